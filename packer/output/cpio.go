// Package output writes the artifacts a build produces. This file holds the
// initrd writer: a newc cpio archive, compressed, whose bytes depend only
// on the entries given to it (fixed inode numbers, no timestamps from the
// build machine), so building the same system twice gives the same file.
package output

import (
	"archive/tar"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/cavaliergopher/cpio"
)

// CPIO writes tar-described entries as a compressed newc archive. It
// implements rootfs.Writer.
type CPIO struct {
	z   io.WriteCloser
	cw  *cpio.Writer
	ino int64
	// inodes maps each regular file written to its header, so a
	// later hard link can name it.
	inodes map[string]cpio.Header
	// shared holds the names that are one of several names of a file
	// (a hard link or its target).
	shared map[string]bool
}

// NewCPIO returns a writer producing a newc cpio stream on w, compressed
// with the Default compression. Close must be called to finish the archive.
func NewCPIO(w io.Writer) (*CPIO, error) {
	return NewCPIOCompressed(w, Default)
}

// NewCPIOCompressed is NewCPIO with a choice of compression.
func NewCPIOCompressed(w io.Writer, c Compression) (*CPIO, error) {
	return newCPIO(w, c, false)
}

// NewCPIOArchive is NewCPIOCompressed for an archive written once and
// read at every boot: zstd at its best level (other compressions as
// NewCPIOCompressed).
func NewCPIOArchive(w io.Writer, c Compression) (*CPIO, error) {
	return newCPIO(w, c, true)
}

func newCPIO(w io.Writer, c Compression, hard bool) (*CPIO, error) {
	z, err := compressorLevel(w, c, hard)
	if err != nil {
		return nil, fmt.Errorf("starting %s compression: %w", c, err)
	}
	return &CPIO{z: z, cw: cpio.NewWriter(z), inodes: map[string]cpio.Header{}, shared: map[string]bool{}}, nil
}

// linkCount is the link count written for every regular file. The kernel's
// initramfs unpacker uses the count only to decide whether to remember a
// name for later hard links (it takes nlink >= 2 to mean "more names may
// follow"); the unpacked file's real count comes from the filesystem. Saying
// 2 for every file lets a hard link refer to any earlier file without
// knowing, when the file is written, whether a link to it will follow.
const linkCount = 2

// WriteEntry adds one entry. Only regular files read body. A hard link
// (tar.TypeLink) must name a regular file written earlier.
func (c *CPIO) WriteEntry(h *tar.Header, body io.Reader) error {
	name := cleanName(h.Name)
	if name == "" {
		return nil
	}
	if h.Typeflag == tar.TypeReg && c.shared[name] {
		// The kernel writes a regular file over an existing one in place
		// (open with O_TRUNC): over a name that shares its file with
		// others, a later part replacing it (an image's /usr/bin/containerd
		// over Keel's multi-call binary) would rewrite all the names. A
		// symlink first makes the kernel unlink the name (an entry of
		// another type replaces the old one), so the file gets a new inode.
		c.ino++
		placeholder := &cpio.Header{Name: name, Mode: cpio.TypeSymlink | 0o777, Inode: c.ino, Links: 1, Size: 1}
		if err := c.cw.WriteHeader(placeholder); err != nil {
			return fmt.Errorf("writing cpio header for %s: %w", name, err)
		}
		if _, err := c.cw.Write([]byte(".")); err != nil {
			return fmt.Errorf("writing %s into the initrd: %w", name, err)
		}
		delete(c.shared, name)
	}
	c.ino++
	hdr := &cpio.Header{
		Name:  name,
		Uid:   h.Uid,
		Guid:  h.Gid,
		Inode: c.ino,
		Links: 1,
	}
	perm := cpio.FileMode(h.Mode) & (cpio.ModePerm | cpio.ModeSetuid | cpio.ModeSetgid | cpio.ModeSticky)
	var data io.Reader
	switch h.Typeflag {
	case tar.TypeReg:
		hdr.Mode = cpio.TypeReg | perm
		hdr.Size = h.Size
		hdr.Links = linkCount
		c.inodes[name] = *hdr
		data = body
	case tar.TypeLink:
		target := cleanName(h.Linkname)
		t, ok := c.inodes[target]
		if !ok {
			return fmt.Errorf("hard link %s: target %s is not a regular file written before it", name, target)
		}
		// The kernel links the name to the earlier file and then applies
		// this entry's mode and owner to the shared inode: repeat the
		// target's, whatever the link's own header says.
		hdr.Mode, hdr.Uid, hdr.Guid = t.Mode, t.Uid, t.Guid
		hdr.Inode, hdr.Links = t.Inode, linkCount
		c.shared[name], c.shared[target] = true, true
	case tar.TypeDir:
		hdr.Mode = cpio.TypeDir | perm
		hdr.Links = 2
	case tar.TypeSymlink:
		if h.Linkname == "" {
			// The kernel cannot create it and readers reject the entry.
			return fmt.Errorf("symlink %s has an empty target", name)
		}
		hdr.Mode = cpio.TypeSymlink | 0o777
		hdr.Size = int64(len(h.Linkname))
		data = strings.NewReader(h.Linkname)
	case tar.TypeFifo:
		hdr.Mode = cpio.TypeFifo | perm
	default:
		// Device nodes are skipped: the kernel's built-in initramfs already
		// has /dev/console, and init mounts devtmpfs for the rest.
		return nil
	}
	if err := c.cw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing cpio header for %s: %w", name, err)
	}
	if data != nil {
		n, err := io.Copy(c.cw, data)
		if err != nil {
			return fmt.Errorf("writing %s into the initrd: %w", name, err)
		}
		if n != hdr.Size {
			return fmt.Errorf("writing %s into the initrd: got %d bytes, header says %d", name, n, hdr.Size)
		}
	}
	return nil
}

// cleanName is name as the archive holds it: relative to the root,
// without "//", "." or a trailing slash.
func cleanName(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// Close ends the cpio archive and the compressed stream.
func (c *CPIO) Close() error {
	if err := c.cw.Close(); err != nil {
		return fmt.Errorf("closing cpio archive: %w", err)
	}
	if err := c.z.Close(); err != nil {
		return fmt.Errorf("closing compressed stream: %w", err)
	}
	return nil
}
