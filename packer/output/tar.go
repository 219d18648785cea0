package output

import (
	"archive/tar"
	"fmt"
	"io"
	"strings"
	"time"
)

// Tar writes tar-described entries as a plain tar archive (the `tar`
// output format: the whole root filesystem, as LinuxKit's). Headers are
// rebuilt from the fields that describe the file only (no host names or
// times, no extended attributes), so the archive's bytes depend only on
// the entries. It implements rootfs.Writer and keeps hard links.
type Tar struct {
	tw *tar.Writer
}

// NewTar returns a tar writer on w. Close must be called to finish the
// archive; it does not close w.
func NewTar(w io.Writer) *Tar { return &Tar{tw: tar.NewWriter(w)} }

// HardLinks reports that tar stores hard links.
func (t *Tar) HardLinks() bool { return true }

// WriteEntry adds one entry. Only regular files read body.
func (t *Tar) WriteEntry(h *tar.Header, body io.Reader) error {
	name := strings.Trim(h.Name, "/")
	if name == "" {
		return nil
	}
	hdr := &tar.Header{
		Name:     name,
		Typeflag: h.Typeflag,
		Mode:     h.Mode & 0o7777,
		Uid:      h.Uid,
		Gid:      h.Gid,
		ModTime:  time.Unix(0, 0),
		Format:   tar.FormatPAX,
	}
	var data io.Reader
	switch h.Typeflag {
	case tar.TypeReg:
		hdr.Size, data = h.Size, body
	case tar.TypeDir:
		hdr.Name += "/"
	case tar.TypeLink:
		hdr.Linkname = strings.Trim(h.Linkname, "/")
	case tar.TypeSymlink:
		hdr.Linkname = h.Linkname
	case tar.TypeChar, tar.TypeBlock:
		hdr.Devmajor, hdr.Devminor = h.Devmajor, h.Devminor
	case tar.TypeFifo:
	default:
		return nil
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing tar header for %s: %w", name, err)
	}
	if data != nil {
		n, err := io.Copy(t.tw, data)
		if err != nil {
			return fmt.Errorf("writing %s into the tar: %w", name, err)
		}
		if n != hdr.Size {
			return fmt.Errorf("writing %s into the tar: got %d bytes, header says %d", name, n, hdr.Size)
		}
	}
	return nil
}

// Close ends the archive.
func (t *Tar) Close() error {
	if err := t.tw.Close(); err != nil {
		return fmt.Errorf("closing tar archive: %w", err)
	}
	return nil
}
