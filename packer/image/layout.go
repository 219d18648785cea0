package image

import (
	"fmt"
	"os"
	"path/filepath"
)

// Beside the OCI layout, the cache directory holds what builds derive or
// download. The cache owns these names so that `keel cache clean --all`,
// the builders and the tests agree on them.
const (
	segmentsDir = "segments"
	debsDir     = "debs"
)

// SegmentDir is the folder of the cache holding built initrd segments.
func (c *Cache) SegmentDir() string { return filepath.Join(c.dir, segmentsDir) }

// DebDir is the folder of the cache holding downloaded Debian packages.
func (c *Cache) DebDir() string { return filepath.Join(c.dir, debsDir) }

// Empty removes every image from the index and the derived and downloaded
// files kept beside the layout (segments, Debian packages). The blobs stay
// until Clean, like after Remove.
func (c *Cache) Empty() error {
	entries, err := c.List()
	if err != nil {
		return err
	}
	for _, e := range entries {
		if _, err := c.Remove(e.Ref); err != nil {
			return err
		}
	}
	for _, dir := range []string{c.SegmentDir(), c.DebDir()} {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("emptying the cache: %w", err)
		}
	}
	return nil
}
