package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Flatten returns the image's final filesystem as one tar stream, with
// whiteouts and opaque directories applied. Entries from upper layers come
// first, so a directory's entry may follow entries inside it: consumers
// must create missing parent directories themselves.
func Flatten(img v1.Image) io.ReadCloser {
	return mutate.Extract(img)
}

// Config returns the image's runtime configuration (entrypoint, env,
// labels, ...).
func Config(img v1.Image) (v1.Config, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Config{}, fmt.Errorf("reading image config: %w", err)
	}
	if cf == nil {
		return v1.Config{}, fmt.Errorf("reading image config: image has no config")
	}
	return cf.Config, nil
}

// Label returns the value of the config label key and whether it is set.
func Label(img v1.Image, key string) (string, bool, error) {
	cfg, err := Config(img)
	if err != nil {
		return "", false, err
	}
	v, ok := cfg.Labels[key]
	return v, ok, nil
}

// ReadFiles returns the contents of the named regular files (absolute
// paths) in the image's final filesystem; missing ones are absent from
// the map. It reads the whole flattened image, so call it only when needed.
func ReadFiles(img v1.Image, paths ...string) (map[string][]byte, error) {
	want := map[string]bool{}
	for _, p := range paths {
		want[strings.TrimPrefix(path.Clean(p), "/")] = true
	}
	rc := Flatten(img)
	defer rc.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(rc)
	for len(out) < len(want) {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the image's files: %w", err)
		}
		name := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		if !want[name] || hdr.Typeflag != tar.TypeReg {
			continue
		}
		if _, seen := out[name]; seen {
			continue // upper layers come first
		}
		b, err := io.ReadAll(io.LimitReader(tr, 16<<20))
		if err != nil {
			return nil, fmt.Errorf("reading /%s from the image: %w", name, err)
		}
		out[name] = b
	}
	res := map[string][]byte{}
	for n, b := range out {
		res["/"+n] = b
	}
	return res, nil
}

// StoredSize is what the image takes in a registry or the cache: its
// manifest, config and compressed layers.
func StoredSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, fmt.Errorf("reading the image manifest: %w", err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, fmt.Errorf("reading the image manifest: %w", err)
	}
	n := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}
