package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Export formats.
const (
	ExportOCI    = "oci"    // an OCI image layout in a tar
	ExportDocker = "docker" // `docker save`'s format
)

// Export writes the image stored under ref to w as an archive that
// `keel cache import`, `docker load` and `skopeo` read. The OCI archive is
// byte-identical for the same image.
func (c *Cache) Export(ref, format string, w io.Writer) error {
	img, err := c.Get(ref)
	if err != nil {
		return err
	}
	norm, err := Normalize(ref)
	if err != nil {
		return err
	}
	switch format {
	case ExportDocker:
		r, err := name.ParseReference(norm)
		if err != nil {
			return err
		}
		if err := tarball.Write(r, img, w); err != nil {
			return fmt.Errorf("exporting %s: %w", norm, err)
		}
		return nil
	case ExportOCI, "":
		if err := writeOCIArchive(w, norm, img); err != nil {
			return fmt.Errorf("exporting %s: %w", norm, err)
		}
		return nil
	}
	return fmt.Errorf("export format %q: want %s or %s", format, ExportOCI, ExportDocker)
}

// writeOCIArchive streams img as a one-image OCI layout named norm.
func writeOCIArchive(w io.Writer, norm string, img v1.Image) error {
	tw := tar.NewWriter(w)
	add := func(name string, size int64, r io.Reader) error {
		hdr := &tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg,
			ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	addBytes := func(name string, b []byte) error { return add(name, int64(len(b)), bytes.NewReader(b)) }
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	if err := addBytes("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if err := addBytes("blobs/sha256/"+cfgName.Hex, cfg); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	seen := map[v1.Hash]bool{}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		if seen[d] {
			continue
		}
		seen[d] = true
		size, err := l.Size()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return fmt.Errorf("layer %s: %w", d, err)
		}
		err = add("blobs/sha256/"+d.Hex, size, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("layer %s: %w", d, err)
		}
	}
	raw, err := img.RawManifest()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	if err := addBytes("blobs/sha256/"+digest.Hex, raw); err != nil {
		return err
	}
	index := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{{
		MediaType: mt, Size: int64(len(raw)), Digest: digest,
		Annotations: map[string]string{RefNameAnnotation: norm},
		Platform:    &v1.Platform{OS: OS, Architecture: Architecture},
	}}}
	ib, err := json.Marshal(index)
	if err != nil {
		return err
	}
	if err := addBytes("index.json", ib); err != nil {
		return err
	}
	return tw.Close()
}
