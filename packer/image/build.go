package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/gzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// NewImage builds a linux/amd64 OCI image (NewImageArch).
func NewImage(t *Tree, cfg v1.Config) (v1.Image, error) { return NewImageArch(t, cfg, Architecture) }

// NewImageArch builds a linux/arch OCI image with a single layer holding the
// tree. Everything that could vary between runs is fixed (times, owners,
// entry order, gzip header), so the same tree and config always give the
// same digest. The config is created at Epoch and has no history.
//
// The compressed layer is spooled to an unlinked temporary file, so the
// tree's source files may be removed as soon as NewImage returns.
func NewImageArch(t *Tree, cfg v1.Config, arch string) (v1.Image, error) {
	if err := CheckArch(arch); err != nil {
		return nil, err
	}
	l, err := newLayer(t)
	if err != nil {
		return nil, err
	}
	cf := v1.ConfigFile{
		Architecture: arch,
		OS:           OS,
		Created:      v1.Time{Time: Epoch},
		Config:       cfg,
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{l.diffID}},
	}
	rawCfg, err := json.Marshal(cf)
	if err != nil {
		return nil, fmt.Errorf("encoding image config: %w", err)
	}
	cfgDigest, cfgSize, err := v1.SHA256(bytes.NewReader(rawCfg))
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON, Size: cfgSize, Digest: cfgDigest},
		Layers:        []v1.Descriptor{{MediaType: types.OCILayer, Size: l.size, Digest: l.digest}},
	}
	rawManifest, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding image manifest: %w", err)
	}
	return partial.CompressedToImage(&builtImage{config: rawCfg, manifest: rawManifest, layer: l})
}

// Append returns base with one more layer holding the tree and with cfg as
// its runtime config, created at Epoch: deterministic like NewImage when
// base is. Base's layers are referenced, not copied.
func Append(base v1.Image, t *Tree, cfg v1.Config) (v1.Image, error) {
	l, err := newLayer(t)
	if err != nil {
		return nil, err
	}
	layer, err := partial.CompressedToLayer(l)
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer})
	if err != nil {
		return nil, fmt.Errorf("adding a layer to the base image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the base image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Config = cfg
	cf.Created = v1.Time{Time: Epoch}
	cf.OS, cf.Architecture = OS, Architecture
	return mutate.ConfigFile(img, cf)
}

type builtImage struct {
	config, manifest []byte
	layer            *spooledLayer
}

func (b *builtImage) RawConfigFile() ([]byte, error)      { return b.config, nil }
func (b *builtImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (b *builtImage) RawManifest() ([]byte, error)        { return b.manifest, nil }
func (b *builtImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == b.layer.digest {
		return b.layer, nil
	}
	return nil, fmt.Errorf("layer %s not found", h)
}

// spooledLayer is a gzip layer kept in an unlinked file: the kernel frees
// the space once the last reference is gone.
type spooledLayer struct {
	f              *os.File
	size           int64
	digest, diffID v1.Hash
}

func newLayer(t *Tree) (*spooledLayer, error) {
	f, err := os.CreateTemp("", "keel-layer-*")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary layer file: %w", err)
	}
	os.Remove(f.Name()) //nolint:errcheck // unlinked on purpose; failure only leaves a temp file
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()

	compSum := sha256.New()
	counter := &countWriter{}
	zw, err := gzip.NewWriterLevel(io.MultiWriter(f, compSum, counter), gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	// The zero header has no name and mtime 0: nothing that varies.
	diffSum := sha256.New()
	if err := t.WriteTar(io.MultiWriter(zw, diffSum)); err != nil {
		return nil, fmt.Errorf("writing layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing layer: %w", err)
	}
	ok = true
	return &spooledLayer{
		f:      f,
		size:   counter.n,
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(compSum.Sum(nil))},
		diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diffSum.Sum(nil))},
	}, nil
}

func (l *spooledLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *spooledLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *spooledLayer) Size() (int64, error)     { return l.size, nil }
func (l *spooledLayer) MediaType() (types.MediaType, error) {
	return types.OCILayer, nil
}
func (l *spooledLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(io.NewSectionReader(l.f, 0, l.size)), nil
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}
