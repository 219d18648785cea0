// Package atomicfile replaces a file in one step: readers see the old
// content or the new, never half of one, and a failed write leaves neither a
// partial file nor its temporary file behind.
//
// The content goes to a temporary file in the destination's own directory
// (a rename is atomic only within one file system), which is written,
// given its mode, fsynced, closed and renamed over the destination; then
// the directory is fsynced.
//
// Both fsyncs always happen. Every caller writes something whose name
// promises its content (a content-addressed blob or segment, an index, a
// lock file, a cache verdict, resolv.conf): without the file's fsync a
// crash right after the rename can leave the new name on an empty or
// truncated file (ext4 and xfs may commit the rename before the data), and
// without the directory's fsync the rename itself may be lost. The cost is
// one flush per write, small next to what the callers do to produce the
// content. The directory's fsync is best effort: some file systems (and
// some FUSE or 9p mounts) refuse it, and by then the rename has happened.
//
// Two renames do not come here, on purpose: packer/build's outputs (a
// kernel, an initrd and a command line are renamed into place together,
// and a disk image is renamed, not copied, so it stays sparse; none is
// fsynced, since a build's artifact is rebuilt from its spec and a flush
// of a disk image can cost seconds) and metadata.WriteConfig (it swaps a whole
// directory, on /run, a tmpfs, where an fsync buys nothing).
package atomicfile

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFile replaces path with data, mode perm (not masked by the umask).
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write replaces path with what write writes, mode perm (not masked by the
// umask). When write returns an error, path is left as it was and the error
// is returned unwrapped, so a caller can check its own error values.
func Write(path string, perm fs.FileMode, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating a temporary file for %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := write(tmp); err != nil {
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	done = true
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable, best effort (see the package doc).
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync() //nolint:errcheck // best effort: the rename already happened
	d.Close()
}
