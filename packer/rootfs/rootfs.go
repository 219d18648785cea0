// Package rootfs turns a resolved system (init layers, kernel modules,
// container bundles, files) into one ordered stream of filesystem entries.
// Output writers (cpio, tar, disk images) consume the stream through the
// Writer interface, so every format gets the same tree in the same order.
package rootfs

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Writer receives filesystem entries. Names are relative to the image root
// ("usr/bin/svcd"); every parent directory has been sent before its children.
type Writer interface {
	WriteEntry(hdr *tar.Header, body io.Reader) error
}

// Opener returns a fresh tar stream each time it is called.
type Opener func() (io.ReadCloser, error)

// Layer is a tar stream placed under a prefix of the image.
type Layer struct {
	// What names the layer in errors, e.g. "init image keel/init:abc".
	What string
	// Prefix is where the layer's root goes ("" for the image root).
	Prefix string
	Open   Opener
}

// Entry is one literal file, directory or symlink (config.json, files from
// the spec ...). For directories and symlinks Body is ignored.
type Entry struct {
	Hdr  tar.Header
	Body []byte
}

// System is everything that goes into the image, in the order it is written:
// later parts may replace files of earlier ones, as in LinuxKit.
type System struct {
	Dirs   []Entry // skeleton directories (proc, sys, dev, run ...)
	Layers []Layer // kernel modules, init images, then container rootfs
	Files  []Entry // bundle metadata and the spec's files section
	// Known are directories an earlier archive of the same image already
	// created (a later initrd segment): their entries are not sent again
	// as parents, so their modes stay as first written.
	Known []string
}

// BaseDirs are the directories every Keel image has, so PID 1 has its mount
// points even on a read-only root.
func BaseDirs() []Entry {
	var out []Entry
	for _, d := range []struct {
		name string
		mode int64
	}{
		{"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"run", 0o755},
		{"tmp", 0o1777}, {"var", 0o755}, {"etc", 0o755}, {"root", 0o700},
		{"mnt", 0o755}, {"usr", 0o755}, {"usr/bin", 0o755}, {"lib", 0o755},
		{"containers", 0o755}, {"containers/onboot", 0o755},
		{"containers/services", 0o755}, {"containers/onshutdown", 0o755},
	} {
		out = append(out, Entry{Hdr: tar.Header{Name: d.name, Typeflag: tar.TypeDir, Mode: d.mode}})
	}
	return out
}

// Write sends the whole system to w.
func Write(sys *System, w Writer) error { return WriteAll(w, sys) }

// WriteAll sends several systems to w through one stream, as if they were
// one: a directory written by an earlier system is not sent again, and
// nothing may land below a symlink or file an earlier system wrote.
func WriteAll(w Writer, systems ...*System) error {
	s := &stream{w: w, dirs: map[string]bool{}, nondir: map[string]int{}}
	for _, sys := range systems {
		if err := s.system(sys); err != nil {
			return err
		}
	}
	return nil
}

func (s *stream) system(sys *System) error {
	for _, d := range sys.Known {
		s.dirs[d] = true
	}
	for _, e := range sys.Dirs {
		s.part++
		if err := s.entry(e); err != nil {
			return err
		}
	}
	for _, l := range sys.Layers {
		s.part++
		if err := s.layer(l); err != nil {
			return err
		}
	}
	for _, e := range sys.Files {
		s.part++
		if err := s.entry(e); err != nil {
			return fmt.Errorf("file %s: %w", e.Hdr.Name, err)
		}
	}
	return nil
}

type stream struct {
	w    Writer
	dirs map[string]bool
	// nondir records the names written as something other than a
	// directory, with the part (layer or entry) that wrote them: the
	// kernel's initramfs unpacker follows a symlink met on the way to a
	// later name, so nothing may be written below one.
	nondir map[string]int
	part   int
}

// clean turns a tar name into a relative, clean path and refuses names that
// would land outside the image (or outside a container's rootfs).
func clean(name string) (string, error) {
	n := strings.TrimPrefix(path.Clean("/"+name), "/")
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("entry %q escapes its root with ..", name)
		}
	}
	return n, nil
}

// parents makes sure every parent of name was written, creating the missing
// ones with mode 0755, because the kernel's initramfs unpacker does not
// create them.
func (s *stream) parents(name string) error {
	dir := path.Dir(name)
	if dir == "." || s.dirs[dir] {
		return nil
	}
	if err := s.parents(dir); err != nil {
		return err
	}
	s.dirs[dir] = true
	return s.w.WriteEntry(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755}, nil)
}

func (s *stream) write(h *tar.Header, body io.Reader) error {
	for dir := path.Dir(h.Name); dir != "."; dir = path.Dir(dir) {
		part, ok := s.nondir[dir]
		if !ok {
			continue
		}
		if part == s.part {
			// A flattened image lists upper layers first: an entry
			// below a name an upper layer made a symlink or file is
			// hidden by it, as in the container's overlay.
			return nil
		}
		return fmt.Errorf("entry %s lies below %s, which an earlier part of the image wrote as a symlink or file; the initramfs unpacker would follow it (remove one of the two)", h.Name, dir)
	}
	if err := s.parents(h.Name); err != nil {
		return err
	}
	if h.Typeflag == tar.TypeDir {
		s.dirs[h.Name] = true
		delete(s.nondir, h.Name)
	} else {
		delete(s.dirs, h.Name)
		s.nondir[h.Name] = s.part
	}
	return s.w.WriteEntry(h, body)
}

func (s *stream) entry(e Entry) error {
	h := e.Hdr
	n, err := clean(h.Name)
	if err != nil {
		return err
	}
	if n == "" {
		return nil
	}
	h.Name = n
	if h.Typeflag == tar.TypeReg {
		h.Size = int64(len(e.Body))
	}
	return s.write(&h, bytes.NewReader(e.Body))
}

func (s *stream) layer(l Layer) error {
	var rc io.ReadCloser
	var plan *linkPlan
	if wantsHardLinks(s.w) {
		f, p, err := spool(l)
		if err != nil {
			return err
		}
		rc, plan = f, p
	} else {
		var err error
		if rc, err = l.Open(); err != nil {
			return fmt.Errorf("opening %s: %w", l.What, err)
		}
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", l.What, err)
		}
		n, err := clean(h.Name)
		if err != nil {
			return fmt.Errorf("%s: %w", l.What, err)
		}
		if n == "" {
			continue // the layer's own root directory
		}
		h.Name = path.Join(l.Prefix, n)
		if h.Typeflag == tar.TypeRegA {
			h.Typeflag = tar.TypeReg
		}
		delete(h.PAXRecords, PAXLinkCount) // only Write sets it
		if plan != nil {
			if plan.isLink[n] {
				continue // written with its target
			}
			names := plan.names[n]
			if h.Typeflag == tar.TypeReg && len(names) > 0 {
				h.PAXRecords = linkCount(names)
				if err := s.write(h, tr); err != nil {
					return fmt.Errorf("%s: %w", l.What, err)
				}
				if err := s.linkGroup(l, h, names); err != nil {
					return err
				}
				continue
			}
		} else if h.Typeflag == tar.TypeLink {
			// For a writer without hard links, a symlink to the first name
			// behaves the same for every program that does not compare
			// inode numbers.
			target, err := clean(h.Linkname)
			if err != nil {
				return fmt.Errorf("%s: hard link %s: %w", l.What, h.Name, err)
			}
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, "/"+target, 0
		}
		if err := s.write(h, tr); err != nil {
			return fmt.Errorf("%s: %w", l.What, err)
		}
	}
}
