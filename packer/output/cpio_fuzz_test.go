package output

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
)

// FuzzCPIO writes a directory, a file, a symlink and a hard link with
// arbitrary names, modes and contents, and reads the archive back: the
// writer must never panic, and what it accepts must read back as written.
func FuzzCPIO(f *testing.F) {
	f.Add("etc", "etc/hosts", []byte("127.0.0.1 localhost\n"), int64(0o644), "hosts", "etc/link")
	f.Add("/a/", "/a/b", []byte{}, int64(0o4755), "../../x", "a/c")
	f.Add("", "x", []byte("x"), int64(-1), "", "")
	f.Fuzz(func(t *testing.T, dir, file string, data []byte, mode int64, symTarget, link string) {
		for _, s := range []string{dir, file, symTarget, link} {
			if strings.ContainsRune(s, 0) {
				return // cpio names are NUL-terminated; tar names never hold NUL
			}
		}
		// One name per entry: replacing an entry is the rootfs layer's job.
		seen := map[string]bool{}
		for _, s := range []string{dir, file, file + ".sym", link} {
			n := cleanName(s)
			if seen[n] {
				return
			}
			seen[n] = true
		}
		var buf bytes.Buffer
		w, err := NewCPIOCompressed(&buf, None)
		if err != nil {
			t.Fatal(err)
		}
		entries := []struct {
			h    tar.Header
			body []byte
		}{
			{tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755}, nil},
			{tar.Header{Name: file, Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(data))}, data},
			{tar.Header{Name: file + ".sym", Typeflag: tar.TypeSymlink, Linkname: symTarget}, nil},
			{tar.Header{Name: link, Typeflag: tar.TypeLink, Linkname: file}, nil},
		}
		want := map[string]string{} // name -> content (or link target)
		for _, e := range entries {
			if err := w.WriteEntry(&e.h, bytes.NewReader(e.body)); err != nil {
				return // refused: fine, as long as it did not panic
			}
			name := cleanName(e.h.Name)
			switch e.h.Typeflag {
			case tar.TypeReg:
				want[name] = string(e.body)
			case tar.TypeSymlink:
				want[name] = e.h.Linkname
			case tar.TypeLink:
				if name != "" {
					want[name] = string(data)
				}
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		inodes := map[int64]string{}
		r := cpio.NewReader(&buf)
		for {
			h, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("reading back: %v", err)
			}
			b, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if h.Linkname != "" {
				b = []byte(h.Linkname)
			} else if regular := h.Mode&cpio.ModeType == cpio.TypeReg; regular && len(b) == 0 && inodes[h.Inode] != "" {
				b = []byte(inodes[h.Inode]) // a hard link carries no data
			} else if regular {
				inodes[h.Inode] = string(b)
			}
			got[h.Name] = string(b)
		}
		for name, content := range want {
			if name == "" {
				continue
			}
			if got[name] != content {
				t.Errorf("%q read back as %q, wrote %q", name, got[name], content)
			}
		}
	})
}
