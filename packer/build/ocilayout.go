package build

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/rootfs"
)

// ociLayoutOpener returns the tar stream of an OCI image layout holding img
// under the name ref (LinuxKit's `format: oci` volume): oci-layout,
// index.json and every blob (manifest, config, compressed layers) under
// blobs/sha256/. The stream is produced as it is read, so a large image is
// never held in memory.
func ociLayoutOpener(img v1.Image, ref string) rootfs.Opener {
	return func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(writeOCILayout(pw, img, ref)) }()
		return pr, nil
	}
}

func writeOCILayout(w io.Writer, img v1.Image, ref string) error {
	tw := tar.NewWriter(w)
	put := func(name string, size int64, body io.Reader) error {
		h := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: image.Epoch}
		if body == nil {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if body == nil {
			return nil
		}
		n, err := io.Copy(tw, body)
		if err == nil && n != size {
			err = fmt.Errorf("%s: got %d bytes, want %d", name, n, size)
		}
		return err
	}
	putBytes := func(name string, b []byte) error { return put(name, int64(len(b)), bytes.NewReader(b)) }
	blob := func(d v1.Hash) string { return path.Join("blobs", d.Algorithm, d.Hex) }

	if err := putBytes("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	for _, d := range []string{"blobs", "blobs/sha256"} {
		if err := put(d, 0, nil); err != nil {
			return err
		}
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("reading the layers: %w", err)
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
			return fmt.Errorf("reading layer %s: %w", d, err)
		}
		err = put(blob(d), size, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("layer %s: %w", d, err)
		}
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	if err := putBytes(blob(cfgName), cfg); err != nil {
		return err
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	md, err := img.Digest()
	if err != nil {
		return err
	}
	if err := putBytes(blob(md), manifest); err != nil {
		return err
	}
	mt, err := img.MediaType()
	if err != nil {
		return err
	}
	desc := map[string]interface{}{
		"mediaType": mt,
		"digest":    md.String(),
		"size":      len(manifest),
	}
	if ref != "" {
		desc["annotations"] = map[string]string{"org.opencontainers.image.ref.name": ref}
	}
	if cf, err := img.ConfigFile(); err == nil && cf.Architecture != "" {
		desc["platform"] = map[string]string{"architecture": cf.Architecture, "os": cf.OS}
	}
	index, err := json.Marshal(map[string]interface{}{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []interface{}{desc},
	})
	if err != nil {
		return err
	}
	if err := putBytes("index.json", index); err != nil {
		return err
	}
	return tw.Close()
}
