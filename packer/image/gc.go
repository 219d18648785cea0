package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// CleanStats says what Clean removed.
type CleanStats struct {
	Blobs int
	Bytes int64
}

// Clean deletes every blob that no index entry reaches — what Remove and
// replaced Puts leave behind — and temporary files of interrupted writes.
// It holds the collection lock exclusively, so a Put in another process
// (which holds it shared while its blobs are not yet in the index) never
// loses a blob.
func (c *Cache) Clean() (CleanStats, error) {
	var st CleanStats
	err := c.gcLocked(syscall.LOCK_EX, func() error {
		m, err := c.readIndex()
		if err != nil {
			return err
		}
		keep := map[string]bool{}
		var referrers []v1.Descriptor
		for _, d := range m.Manifests {
			if _, ok := d.Annotations[SubjectAnnotation]; ok {
				referrers = append(referrers, d)
				continue
			}
			if err := c.mark(d, keep); err != nil {
				return fmt.Errorf("cleaning the cache %s: %w (nothing was removed)", c.dir, err)
			}
		}
		// A referrer (an image's SBOM) lives as long as its subject.
		if err := c.keepReferrers(referrers, keep); err != nil {
			return fmt.Errorf("cleaning the cache %s: %w (nothing was removed)", c.dir, err)
		}
		blobs := filepath.Join(c.dir, "blobs")
		return filepath.WalkDir(blobs, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(blobs, p)
			if keep[filepath.ToSlash(rel)] {
				return nil
			}
			info, err := e.Info()
			if err != nil {
				return err
			}
			if err := os.Remove(p); err != nil {
				return fmt.Errorf("cleaning the cache: %w", err)
			}
			st.Blobs++
			st.Bytes += info.Size()
			return nil
		})
	})
	return st, err
}

// mark records d's blob and, for manifests and indexes, everything they
// reference, as "algorithm/hex" paths under blobs/.
func (c *Cache) mark(d v1.Descriptor, keep map[string]bool) error {
	key := d.Digest.Algorithm + "/" + d.Digest.Hex
	if keep[key] {
		return nil
	}
	keep[key] = true
	switch {
	case d.MediaType.IsIndex():
		raw, err := os.ReadFile(c.blobPath(d.Digest))
		if errors.Is(err, fs.ErrNotExist) {
			return nil // a partial index from another tool: keep what it has
		}
		if err != nil {
			return err
		}
		im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("index %s: %w", d.Digest, err)
		}
		for _, child := range im.Manifests {
			if err := c.mark(child, keep); err != nil {
				return err
			}
		}
	case d.MediaType.IsImage():
		raw, err := os.ReadFile(c.blobPath(d.Digest))
		if err != nil {
			return fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		var mf v1.Manifest
		if err := json.Unmarshal(raw, &mf); err != nil {
			return fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		keep[mf.Config.Digest.Algorithm+"/"+mf.Config.Digest.Hex] = true
		for _, l := range mf.Layers {
			keep[l.Digest.Algorithm+"/"+l.Digest.Hex] = true
		}
	}
	return nil
}

// gcLocked runs fn holding the collection lock in mode (LOCK_SH for
// writers of blobs, LOCK_EX for Clean).
func (c *Cache) gcLocked(mode int, fn func() error) error {
	f, err := os.OpenFile(filepath.Join(c.dir, ".keel.gc.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("locking the image cache: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), mode); err != nil {
		return fmt.Errorf("locking the image cache: %w", err)
	}
	return fn()
}

// keepReferrers marks the referrers whose subject is kept and drops the
// others from the index.
func (c *Cache) keepReferrers(referrers []v1.Descriptor, keep map[string]bool) error {
	orphan := map[v1.Hash]bool{}
	for _, d := range referrers {
		subject, err := v1.NewHash(d.Annotations[SubjectAnnotation])
		if err == nil && keep[subject.Algorithm+"/"+subject.Hex] {
			if err := c.mark(d, keep); err != nil {
				return err
			}
			continue
		}
		orphan[d.Digest] = true
	}
	if len(orphan) == 0 {
		return nil
	}
	return c.locked(func() error {
		m, err := c.readIndex()
		if err != nil {
			return err
		}
		kept := m.Manifests[:0]
		for _, d := range m.Manifests {
			if _, ok := d.Annotations[SubjectAnnotation]; ok && orphan[d.Digest] {
				continue
			}
			kept = append(kept, d)
		}
		m.Manifests = kept
		return c.writeIndex(m)
	})
}
