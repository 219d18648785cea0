package output

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
)

type entry struct {
	hdr  tar.Header
	body string
}

var sample = []entry{
	{tar.Header{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755}, ""},
	{tar.Header{Name: "etc/hostname", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5}, "keel\n"},
	{tar.Header{Name: "/bin/sh", Typeflag: tar.TypeSymlink, Linkname: "busybox"}, ""},
	{tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}, ""},
	{tar.Header{Name: "usr/bin/x", Typeflag: tar.TypeReg, Mode: 0o4755, Size: 2, Uid: 1, Gid: 2}, "hi"},
}

func write(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	c, err := NewCPIO(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		h := e.hdr
		if err := c.WriteEntry(&h, strings.NewReader(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCPIORoundTrip(t *testing.T) {
	r := cpio.NewReader(decompress(t, Default, write(t, sample)))
	type got struct {
		name string
		mode cpio.FileMode
		body string
	}
	var all []got
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		if h.Mode&cpio.ModeType == cpio.TypeSymlink {
			b = []byte(h.Linkname) // the reader moves a link's body there
		}
		all = append(all, got{h.Name, h.Mode, string(b)})
	}
	want := []got{
		{"etc", cpio.TypeDir | 0o755, ""},
		{"etc/hostname", cpio.TypeReg | 0o644, "keel\n"},
		{"bin/sh", cpio.TypeSymlink | 0o777, "busybox"},
		{"usr/bin/x", cpio.TypeReg | cpio.ModeSetuid | 0o755, "hi"},
	}
	if len(all) != len(want) {
		t.Fatalf("got %d entries %v, want %d (device nodes skipped)", len(all), all, len(want))
	}
	for i := range want {
		if all[i] != want[i] {
			t.Errorf("entry %d: got %+v, want %+v", i, all[i], want[i])
		}
	}
}

func TestCPIODeterministic(t *testing.T) {
	a, b := write(t, sample), write(t, sample)
	if !bytes.Equal(a, b) {
		t.Fatal("two writes of the same entries differ")
	}
}

func TestCPIOShortBody(t *testing.T) {
	var buf bytes.Buffer
	c, _ := NewCPIO(&buf)
	h := &tar.Header{Name: "f", Typeflag: tar.TypeReg, Size: 10}
	if err := c.WriteEntry(h, strings.NewReader("abc")); err == nil {
		t.Fatal("got nil error for a body shorter than its header, want an error")
	}
}

func TestCPIOHardLink(t *testing.T) {
	var buf bytes.Buffer
	c, _ := NewCPIOCompressed(&buf, None)
	entries := []struct {
		h    tar.Header
		body string
	}{
		{tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: 2}, "bb"},
		// A link header without a mode (as some layer tars write them) must
		// not reset the shared file's mode: the kernel applies each entry's.
		{tar.Header{Name: "bin/sh", Typeflag: tar.TypeLink, Linkname: "bin/busybox"}, ""},
	}
	for _, e := range entries {
		h := e.h
		if err := c.WriteEntry(&h, strings.NewReader(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	bad := &tar.Header{Name: "x", Typeflag: tar.TypeLink, Linkname: "missing"}
	if err := c.WriteEntry(bad, nil); err == nil {
		t.Error("link to a file never written: got nil error, want one")
	}
	c.Close()
	r := cpio.NewReader(&buf)
	var inos []int64
	for {
		h, err := r.Next()
		if err != nil {
			break
		}
		if h.Links != 2 {
			t.Errorf("%s: links %d, want 2 (so the kernel remembers the name)", h.Name, h.Links)
		}
		if h.Mode.Perm() != 0o755 {
			t.Errorf("%s: mode %o, want 0755 (the target's)", h.Name, h.Mode.Perm())
		}
		inos = append(inos, h.Inode)
	}
	if len(inos) != 2 || inos[0] != inos[1] {
		t.Errorf("inodes %v, want two equal ones", inos)
	}
}

// TestCPIOReplacingAHardLink checks that a regular file written over one
// name of a hard-linked file is preceded by an entry of another type, so
// the kernel unlinks the name instead of truncating the shared file.
func TestCPIOReplacingAHardLink(t *testing.T) {
	var buf bytes.Buffer
	c, _ := NewCPIOCompressed(&buf, None)
	for _, e := range []struct {
		h    tar.Header
		body string
	}{
		{tar.Header{Name: "usr/bin/svcd", Typeflag: tar.TypeReg, Mode: 0o755, Size: 5}, "multi"},
		{tar.Header{Name: "usr/bin/containerd", Typeflag: tar.TypeLink, Linkname: "usr/bin/svcd"}, ""},
		{tar.Header{Name: "usr/bin/runc", Typeflag: tar.TypeReg, Mode: 0o755, Size: 4}, "runc"},
		{tar.Header{Name: "usr/bin/runc", Typeflag: tar.TypeReg, Mode: 0o755, Size: 5}, "runc2"}, // not shared: in place
		{tar.Header{Name: "usr/bin/containerd", Typeflag: tar.TypeReg, Mode: 0o755, Size: 5}, "other"},
	} {
		h := e.h
		if err := c.WriteEntry(&h, strings.NewReader(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	r := cpio.NewReader(&buf)
	var got []string
	for {
		h, err := r.Next()
		if err != nil {
			break
		}
		got = append(got, fmt.Sprintf("%s %s", h.Name, map[bool]string{true: "symlink", false: "other"}[h.Mode&cpio.ModeType == cpio.TypeSymlink]))
	}
	want := []string{"usr/bin/svcd other", "usr/bin/containerd other", "usr/bin/runc other", "usr/bin/runc other",
		"usr/bin/containerd symlink", "usr/bin/containerd other"}
	if !slices.Equal(got, want) {
		t.Errorf("got entries %q, want %q", got, want)
	}
}
