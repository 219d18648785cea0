package iso

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

// treeEntries are a small root: modes, owners, links of both kinds, a
// device, a name long enough to need a continuation area and an entry
// replaced by a later one.
func treeEntries() []struct {
	h    tar.Header
	body string
} {
	long := strings.Repeat("n", 200)
	return []struct {
		h    tar.Header
		body string
	}{
		{tar.Header{Name: "etc", Typeflag: tar.TypeDir, Mode: 0o755}, ""},
		{tar.Header{Name: "etc/motd", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3}, "old"},
		{tar.Header{Name: "etc/motd", Typeflag: tar.TypeReg, Mode: 0o600, Size: 3}, "hi\n"},
		{tar.Header{Name: "root", Typeflag: tar.TypeDir, Mode: 0o700}, ""},
		{tar.Header{Name: "home", Typeflag: tar.TypeDir, Mode: 0o755}, ""},
		{tar.Header{Name: "home/u", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 1001}, ""},
		{tar.Header{Name: "home/u/" + long, Typeflag: tar.TypeReg, Mode: 0o4755, Uid: 1000, Gid: 1001, Size: 4}, "long"},
		{tar.Header{Name: "home/u/link", Typeflag: tar.TypeLink, Linkname: "home/u/" + long}, ""},
		{tar.Header{Name: "bin", Typeflag: tar.TypeSymlink, Linkname: "usr/bin"}, ""},
		{tar.Header{Name: "abs", Typeflag: tar.TypeSymlink, Linkname: "/etc/../etc/./motd"}, ""},
		{tar.Header{Name: "far", Typeflag: tar.TypeSymlink, Linkname: "/" + strings.Repeat("dir/", 100) + long}, ""},
		{tar.Header{Name: "null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}, ""},
		{tar.Header{Name: "empty", Typeflag: tar.TypeReg, Mode: 0o644}, ""},
	}
}

func writeTree(t *testing.T) []byte {
	t.Helper()
	tree, err := NewTree(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tree.Close()
	for _, e := range treeEntries() {
		h := e.h
		if err := tree.WriteEntry(&h, strings.NewReader(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestTreeRockRidge writes a root and reads it back with go-diskfs's ISO
// 9660 reader, which follows Rock Ridge.
func TestTreeRockRidge(t *testing.T) {
	img := writeTree(t)
	if !bytes.Equal(img, writeTree(t)) {
		t.Error("two writes of the same entries differ: not reproducible")
	}
	if len(img)%blockSize != 0 {
		t.Errorf("image of %d bytes, want whole sectors", len(img))
	}
	p := filepath.Join(t.TempDir(), "root.iso")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fsys, err := iso9660.Read(file.New(f, true), int64(len(img)), 0, blockSize)
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("n", 200)
	for _, c := range []struct {
		path     string
		mode     fs.FileMode
		uid, gid uint32
		nlink    uint32
		body     string
	}{
		{"/etc/motd", 0o600, 0, 0, 1, "hi\n"},
		{"/root", fs.ModeDir | 0o700, 0, 0, 2, ""},
		{"/home/u", fs.ModeDir | 0o750, 1000, 1001, 2, ""},
		{"/home/u/" + long, fs.ModeSetuid | 0o755, 1000, 1001, 2, "long"},
		{"/home/u/link", fs.ModeSetuid | 0o755, 1000, 1001, 2, "long"},
		{"/null", fs.ModeDevice | fs.ModeCharDevice | 0o666, 0, 0, 1, ""},
		{"/empty", 0o644, 0, 0, 1, ""},
		{"/bin", fs.ModeSymlink | 0o777, 0, 0, 1, "usr/bin"},
		{"/abs", fs.ModeSymlink | 0o777, 0, 0, 1, "/etc/../etc/./motd"},
	} {
		// go-diskfs takes io/fs paths: no leading slash.
		rel := strings.TrimPrefix(c.path, "/")
		dir, base := path.Dir(rel), path.Base(rel)
		ents, err := fsys.ReadDir(dir)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		var info fs.FileInfo
		for _, e := range ents {
			if e.Name() == base {
				info, _ = e.Info()
			}
		}
		if info == nil {
			t.Errorf("%s: not found (Rock Ridge name missing?)", c.path)
			continue
		}
		st := info.Sys().(*iso9660.StatT)
		if info.Mode() != c.mode || st.UID != c.uid || st.GID != c.gid || st.NLink != c.nlink {
			t.Errorf("%s: got mode %v uid %d gid %d nlink %d, want %v %d %d %d", c.path, info.Mode(), st.UID, st.GID, st.NLink, c.mode, c.uid, c.gid, c.nlink)
		}
		if c.mode&fs.ModeSymlink != 0 {
			l, ok := info.(interface{ ReadLink() (string, bool) })
			if !ok {
				t.Fatalf("%s: go-diskfs gives no ReadLink", c.path)
			}
			if got, _ := l.ReadLink(); got != c.body {
				t.Errorf("%s: links to %q, want %q", c.path, got, c.body)
			}
			continue
		}
		if c.mode.IsRegular() || c.mode&fs.ModeSetuid != 0 {
			fh, err := fsys.OpenFile(rel, os.O_RDONLY)
			if err != nil {
				t.Errorf("%s: %v", c.path, err)
				continue
			}
			b, _ := io.ReadAll(fh)
			if string(b) != c.body {
				t.Errorf("%s: got %q, want %q", c.path, b, c.body)
			}
		}
	}
}
