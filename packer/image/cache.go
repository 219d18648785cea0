package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/keel-os/keel/internal/atomicfile"
)

// RefNameAnnotation is the index annotation that names a cache entry. Its
// value is always a Normalize'd reference.
const RefNameAnnotation = "org.opencontainers.image.ref.name"

// The OS and the default architecture of every image Keel builds (see
// Architectures for the others). containerd skips image configs that do not
// name an architecture, so every cached image carries both.
const (
	OS           = "linux"
	Architecture = "amd64"
)

// Cache is Keel's local image store: one OCI image layout directory whose
// index.json names each image by its normalized reference and platform: a
// reference may name one image per architecture (a registry image pulled
// for amd64 and for arm64), or an image index holding several.
//
// Writers never leave a half-written index: blobs are written (to a temporary
// name, verified, then renamed) before index.json is replaced by rename. An
// interrupted Put at worst leaves unreferenced blobs behind.
type Cache struct {
	dir string

	// index is index.json as last parsed, with the bytes it was parsed
	// from: a build looks entries up dozens of times, and parsing the
	// index (tens of kilobytes once a cache holds a hundred images) was a
	// tenth of a one-service rebuild. Comparing bytes rather than the
	// file's times keeps another keel process's write from being missed.
	indexMu  sync.Mutex
	indexRaw []byte
	index    *v1.IndexManifest
}

// Entry is one named image in the cache.
type Entry struct {
	Ref       string // normalized reference
	Digest    v1.Hash
	MediaType types.MediaType
	Size      int64
	// Arch is the image's architecture; empty for an image index.
	Arch string
}

// DefaultDir is where the cache lives when the user does not say:
// $KEEL_CACHE, else $XDG_CACHE_HOME/keel, else ~/.cache/keel. With none of
// them known it fails rather than guess a directory relative to wherever
// keel happens to run.
func DefaultDir() (string, error) {
	if d := os.Getenv("KEEL_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "keel"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no image cache directory: KEEL_CACHE and XDG_CACHE_HOME are unset and %v: set KEEL_CACHE or give --cache DIR", err)
	}
	return filepath.Join(home, ".cache", "keel"), nil
}

// Open opens the OCI layout at dir, creating it if missing. An empty dir
// means DefaultDir().
func Open(dir string) (*Cache, error) {
	if dir == "" {
		d, err := DefaultDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("opening image cache %s: %w", dir, err)
	}
	c := &Cache{dir: abs}
	if err := os.MkdirAll(filepath.Join(abs, "blobs", "sha256"), 0o755); err != nil {
		return nil, fmt.Errorf("creating image cache %s: %w", abs, err)
	}
	if _, err := os.Stat(filepath.Join(abs, "oci-layout")); errors.Is(err, os.ErrNotExist) {
		if err := atomicfile.WriteFile(filepath.Join(abs, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
			return nil, fmt.Errorf("creating image cache %s: %w", abs, err)
		}
	}
	if _, err := os.Stat(c.indexPath()); errors.Is(err, os.ErrNotExist) {
		m, err := empty.Index.IndexManifest()
		if err != nil {
			return nil, err
		}
		if err := c.writeIndex(m); err != nil {
			return nil, fmt.Errorf("creating image cache %s: %w", abs, err)
		}
	}
	if _, err := c.readIndex(); err != nil {
		return nil, err
	}
	return c, nil
}

// Dir is the cache's layout directory.
func (c *Cache) Dir() string { return c.dir }

func (c *Cache) indexPath() string { return filepath.Join(c.dir, "index.json") }

// Put stores img under ref, replacing any previous entry with that name and
// img's architecture. An image whose config names no OS or architecture gets
// linux/amd64 (which changes its digest); one naming a platform Keel does not
// build for is refused.
func (c *Cache) Put(ref string, img v1.Image) error {
	return c.put(ref, img, nil)
}

// put is Put that reports the bytes of each blob it writes to count
// (when not nil) as they are copied.
func (c *Cache) put(ref string, img v1.Image, count func(int64)) error {
	norm, err := Normalize(ref)
	if err != nil {
		return err
	}
	img, err = withPlatform(img)
	if err != nil {
		return fmt.Errorf("storing %s: %w", norm, err)
	}
	// Blobs are not in the index until the end: hold off Clean meanwhile.
	return c.gcLocked(syscall.LOCK_SH, func() error {
		desc, err := c.writeImageBlobs(img, count)
		if err != nil {
			return fmt.Errorf("storing %s in the cache %s: %w", norm, c.dir, err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return fmt.Errorf("storing %s: %w", norm, err)
		}
		desc.Annotations = map[string]string{RefNameAnnotation: norm}
		desc.Platform = &v1.Platform{OS: OS, Architecture: cf.Architecture}
		return c.putIndex(norm, desc)
	})
}

// putIndex makes desc the index entry named norm for desc's architecture;
// an image index replaces every entry of that name.
func (c *Cache) putIndex(norm string, desc *v1.Descriptor) error {
	return c.locked(func() error {
		m, err := c.readIndex()
		if err != nil {
			return err
		}
		kept := m.Manifests[:0]
		for _, d := range m.Manifests {
			same := d.Annotations[RefNameAnnotation] == norm &&
				(desc.MediaType.IsIndex() || d.MediaType.IsIndex() || descArch(d) == descArch(*desc))
			if !same {
				kept = append(kept, d)
			}
		}
		m.Manifests = append(kept, *desc)
		if err := c.writeIndex(m); err != nil {
			return fmt.Errorf("storing %s in the cache %s: %w", norm, c.dir, err)
		}
		return nil
	})
}

// Get returns the linux/amd64 image stored under ref (GetArch).
func (c *Cache) Get(ref string) (v1.Image, error) { return c.GetArch(ref, Architecture) }

// GetArch returns the image stored under ref for arch ("" is amd64). For a
// stored image index it picks that architecture's manifest, and fails
// naming the image when the index has none.
func (c *Cache) GetArch(ref, arch string) (v1.Image, error) {
	arch = archOr(arch)
	norm, err := Normalize(ref)
	if err != nil {
		return nil, err
	}
	desc, err := c.lookup(norm, arch)
	if err != nil {
		return nil, err
	}
	if desc == nil {
		if other, _ := c.lookup(norm, ""); other != nil {
			return nil, fmt.Errorf("image %s has no %s/%s variant in the cache %s (only %s): build the package with --arch %s, or pull an image that has one",
				ref, OS, arch, c.dir, descArch(*other), arch)
		}
		return nil, fmt.Errorf("image %q is not in the cache %s: build it with 'keel pkg build' or pull it", ref, c.dir)
	}
	p := layout.Path(c.dir)
	if desc.MediaType.IsIndex() {
		ii, err := p.ImageIndex()
		if err != nil {
			return nil, fmt.Errorf("reading the cache %s: %w", c.dir, err)
		}
		child, err := ii.ImageIndex(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading %s from the cache: %w", norm, err)
		}
		return platformImage(child, norm, arch)
	}
	img, err := p.Image(desc.Digest)
	if err != nil {
		return nil, fmt.Errorf("reading %s from the cache %s: %w", norm, c.dir, err)
	}
	return img, nil
}

// Has reports whether ref names an amd64 entry in the cache (HasArch).
func (c *Cache) Has(ref string) (bool, error) { return c.HasArch(ref, Architecture) }

// HasArch reports whether ref names an entry for arch in the cache: an
// image for it or an image index with a manifest for it.
func (c *Cache) HasArch(ref, arch string) (bool, error) {
	arch = archOr(arch)
	norm, err := Normalize(ref)
	if err != nil {
		return false, err
	}
	desc, err := c.lookup(norm, arch)
	if err != nil || desc == nil {
		return false, err
	}
	if !desc.MediaType.IsIndex() {
		return true, nil
	}
	ii, err := layout.Path(c.dir).ImageIndex()
	if err != nil {
		return false, fmt.Errorf("reading the cache %s: %w", c.dir, err)
	}
	child, err := ii.ImageIndex(desc.Digest)
	if err != nil {
		return false, fmt.Errorf("reading %s from the cache: %w", norm, err)
	}
	_, err = platformImage(child, norm, arch)
	return err == nil, nil
}

// List returns the named entries, sorted by reference.
func (c *Cache) List() ([]Entry, error) {
	m, err := c.readIndex()
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, d := range m.Manifests {
		r, ok := d.Annotations[RefNameAnnotation]
		if !ok {
			continue
		}
		e := Entry{Ref: r, Digest: d.Digest, MediaType: d.MediaType, Size: d.Size}
		if !d.MediaType.IsIndex() {
			e.Arch = descArch(d)
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Ref != out[j].Ref {
			return out[i].Ref < out[j].Ref
		}
		return out[i].Arch < out[j].Arch
	})
	return out, nil
}

// lookup finds the entry named norm for arch: an image for arch, else an
// image index (which may or may not hold arch). An empty arch matches any
// entry of that name.
func (c *Cache) lookup(norm, arch string) (*v1.Descriptor, error) {
	m, err := c.readIndex()
	if err != nil {
		return nil, err
	}
	// Put keeps (name, arch) unique; if another tool appended a
	// duplicate, the last one is the newest.
	var index *v1.Descriptor
	for i := len(m.Manifests) - 1; i >= 0; i-- {
		d := m.Manifests[i]
		if d.Annotations[RefNameAnnotation] != norm {
			continue
		}
		switch {
		case arch == "" || (!d.MediaType.IsIndex() && descArch(d) == arch):
			return &d, nil
		case d.MediaType.IsIndex() && index == nil:
			index = &d
		}
	}
	return index, nil
}

// readIndex returns index.json parsed. The caller owns the result's
// Manifests slice (it may filter it in place and write the index back);
// the descriptors' maps and pointers are shared and must not be changed.
func (c *Cache) readIndex() (*v1.IndexManifest, error) {
	b, err := os.ReadFile(c.indexPath())
	if err != nil {
		return nil, fmt.Errorf("reading the image cache index: %w", err)
	}
	c.indexMu.Lock()
	defer c.indexMu.Unlock()
	if c.index == nil || !bytes.Equal(b, c.indexRaw) {
		m, err := v1.ParseIndexManifest(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("image cache index %s is corrupt: %w (move the directory away to start a fresh cache)", c.indexPath(), err)
		}
		c.index, c.indexRaw = m, b
	}
	m := *c.index
	m.Manifests = slices.Clone(c.index.Manifests)
	return &m, nil
}

func (c *Cache) writeIndex(m *v1.IndexManifest) error {
	if m.SchemaVersion == 0 {
		m.SchemaVersion = 2
	}
	if m.MediaType == "" {
		m.MediaType = types.OCIImageIndex
	}
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(c.indexPath(), b, 0o644)
}

// locked runs fn holding an exclusive lock on the cache, so that two keel
// processes updating index.json do not lose each other's entries.
func (c *Cache) locked(fn func() error) error {
	f, err := os.OpenFile(filepath.Join(c.dir, ".keel.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("locking the image cache: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		return fmt.Errorf("locking the image cache: %w", err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing the file unlocks too
	return fn()
}

// writeImageBlobs stores layers, config and manifest and returns the
// manifest's descriptor.
func (c *Cache) writeImageBlobs(img v1.Image, count func(int64)) (*v1.Descriptor, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, fmt.Errorf("layer digest: %w", err)
		}
		size, err := l.Size()
		if err != nil {
			return nil, fmt.Errorf("layer size: %w", err)
		}
		if c.hasBlob(d, size) {
			continue
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, fmt.Errorf("reading layer %s: %w", d, err)
		}
		var r io.Reader = rc
		if count != nil {
			r = &countingReader{r: rc, count: count}
		}
		err = c.writeBlob(d, r)
		rc.Close()
		if err != nil {
			return nil, err
		}
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	if err := c.writeBlob(cfgName, io.NopCloser(bytes.NewReader(cfg))); err != nil {
		return nil, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	dig, err := img.Digest()
	if err != nil {
		return nil, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	if err := c.writeBlob(dig, io.NopCloser(bytes.NewReader(raw))); err != nil {
		return nil, err
	}
	return &v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: dig}, nil
}

func (c *Cache) blobPath(h v1.Hash) string {
	return filepath.Join(c.dir, "blobs", h.Algorithm, h.Hex)
}

func (c *Cache) hasBlob(h v1.Hash, size int64) bool {
	st, err := os.Stat(c.blobPath(h))
	return err == nil && st.Mode().IsRegular() && st.Size() == size
}

// writeBlob copies r to a temporary file, checks its digest and only then
// gives it its content-addressed name, so a blob's name always promises its
// content.
func (c *Cache) writeBlob(h v1.Hash, r io.Reader) error {
	if h.Algorithm != "sha256" {
		return fmt.Errorf("blob %s: only sha256 digests are supported", h)
	}
	dst := c.blobPath(h)
	if _, err := os.Stat(dst); err == nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	// 0o600: the mode blobs have always had (os.CreateTemp's).
	return atomicfile.Write(dst, 0o600, func(w io.Writer) error {
		sum := sha256.New()
		if _, err := io.Copy(io.MultiWriter(w, sum), r); err != nil {
			return fmt.Errorf("writing blob %s: %w", h, err)
		}
		if got := hex.EncodeToString(sum.Sum(nil)); got != h.Hex {
			return fmt.Errorf("blob content has digest sha256:%s, want %s", got, h)
		}
		return nil
	})
}

// Remove deletes ref's entry from the index. Its blobs stay until Clean.
// It reports whether there was such an entry.
func (c *Cache) Remove(ref string) (bool, error) {
	norm, err := Normalize(ref)
	if err != nil {
		return false, err
	}
	found := false
	err = c.locked(func() error {
		m, err := c.readIndex()
		if err != nil {
			return err
		}
		kept := m.Manifests[:0]
		for _, d := range m.Manifests {
			if d.Annotations[RefNameAnnotation] == norm {
				found = true
				continue
			}
			kept = append(kept, d)
		}
		m.Manifests = kept
		if !found {
			return nil
		}
		return c.writeIndex(m)
	})
	return found, err
}

// countingReader reports the bytes read through it.
type countingReader struct {
	r     io.Reader
	count func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.count(int64(n))
	}
	return n, err
}
