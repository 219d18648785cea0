// Package output writes the artifacts a build produces. This file holds the
// initrd writer: a newc cpio archive, gzip-compressed, whose bytes depend only
// on the entries given to it (fixed inode numbers, no timestamps from the
// build machine), so building the same system twice gives the same file.
package output

import (
	"archive/tar"
	"fmt"
	"io"
	"strings"

	"github.com/cavaliergopher/cpio"
	"github.com/klauspost/compress/gzip"
)

// CPIO writes tar-described entries as a compressed newc archive. It
// implements rootfs.Writer.
type CPIO struct {
	gz  *gzip.Writer
	cw  *cpio.Writer
	ino int64
}

// NewCPIO returns a writer producing a gzip'd newc cpio stream on w. Close
// must be called to finish the archive.
func NewCPIO(w io.Writer) (*CPIO, error) {
	gz, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return nil, fmt.Errorf("starting gzip: %w", err)
	}
	// A zero header (no name, no mtime, OS unknown) keeps the output stable.
	gz.Header = gzip.Header{OS: 255}
	return &CPIO{gz: gz, cw: cpio.NewWriter(gz)}, nil
}

// WriteEntry adds one entry. Only regular files read body. Hard links must
// have been resolved by the caller: newc would need the link count up front.
func (c *CPIO) WriteEntry(h *tar.Header, body io.Reader) error {
	name := strings.TrimPrefix(h.Name, "/")
	name = strings.TrimSuffix(name, "/")
	if name == "" {
		return nil
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
		data = body
	case tar.TypeDir:
		hdr.Mode = cpio.TypeDir | perm
		hdr.Links = 2
	case tar.TypeSymlink:
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

// Close ends the cpio archive and the compressed stream.
func (c *CPIO) Close() error {
	if err := c.cw.Close(); err != nil {
		return fmt.Errorf("closing cpio archive: %w", err)
	}
	if err := c.gz.Close(); err != nil {
		return fmt.Errorf("closing gzip stream: %w", err)
	}
	return nil
}
