package output

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// squashfsImage writes entries into a squashfs image and returns its path.
func squashfsImage(t *testing.T, entries []entry) string {
	t.Helper()
	s, err := NewSquashfs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := s.WriteEntry(&h, strings.NewReader(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	dst := filepath.Join(t.TempDir(), "root.squashfs")
	if err := s.Write(context.Background(), dst, Zstd); err != nil {
		t.Fatal(err)
	}
	return dst
}

func needSquashfsTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{SquashfsTool, "unsquashfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install squashfs-tools)", tool)
		}
	}
}

// TestSquashfsContents checks that modes, owners, links and contents come
// from the entries, and that a later entry replaces an earlier one.
func TestSquashfsContents(t *testing.T) {
	needSquashfsTools(t)
	entries := append(append([]entry{}, sample...),
		entry{tar.Header{Name: "etc/hostname", Typeflag: tar.TypeReg, Mode: 0o600, Uid: 7, Gid: 8}, "replaced\n"},
		entry{tar.Header{Name: "usr/bin/y", Typeflag: tar.TypeLink, Linkname: "usr/bin/x"}, ""},
		entry{tar.Header{Name: "run", Typeflag: tar.TypeDir, Mode: 0o700, Uid: 3}, ""},
	)
	img := squashfsImage(t, entries)
	out, err := exec.Command("unsquashfs", "-lln", "-d", "", img).CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs -lln: %v: %s", err, out)
	}
	listing := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		line, _, _ = strings.Cut(line, " -> ")
		f := strings.Fields(line)
		name := "" // the root has no name
		if len(f) > 5 {
			name = f[len(f)-1]
		}
		listing[name] = f[0] + " " + f[1]
	}
	for _, tc := range []struct{ name, want string }{
		{"", "drwxr-xr-x 0/0"},
		{"/etc", "drwxr-xr-x 0/0"},
		{"/etc/hostname", "-rw------- 7/8"},
		{"/usr/bin/x", "-rwsr-xr-x 1/2"},
		{"/usr/bin/y", "-rwsr-xr-x 1/2"},
		{"/bin/sh", "lrwxrwxrwx 0/0"},
		{"/dev/null", "c--------- 0/0"},
		{"/run", "drwx------ 3/0"},
	} {
		if got := listing[tc.name]; !strings.HasPrefix(got, tc.want) {
			t.Errorf("%q: got %q, want %q", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct{ name, want string }{
		{"etc/hostname", "replaced\n"},
		{"usr/bin/y", "hi"},
	} {
		got, err := exec.Command("unsquashfs", "-cat", img, tc.name).Output()
		if err != nil {
			t.Fatalf("unsquashfs -cat %s: %v", tc.name, err)
		}
		if string(got) != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	stat, err := exec.Command("unsquashfs", "-stat", img).Output()
	if err != nil {
		t.Fatalf("unsquashfs -stat: %v", err)
	}
	if !strings.Contains(string(stat), "Compression zstd") {
		t.Errorf("got %s, want zstd compression", stat)
	}
}

// TestSquashfsReproducible builds the same entries twice.
func TestSquashfsReproducible(t *testing.T) {
	needSquashfsTools(t)
	a, err := os.ReadFile(squashfsImage(t, sample))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(squashfsImage(t, sample))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Errorf("two builds differ: got %d and %d bytes", len(a), len(b))
	}
}

// TestSquashfsReplacedLinkTarget refuses a hard link whose target a later
// entry replaces: the link would silently name the new file.
func TestSquashfsReplacedLinkTarget(t *testing.T) {
	needSquashfsTools(t)
	s, err := NewSquashfs(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, e := range []entry{
		{tar.Header{Name: "a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}, "1"},
		{tar.Header{Name: "b", Typeflag: tar.TypeLink, Linkname: "a"}, ""},
		{tar.Header{Name: "a", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}, "2"},
	} {
		h := e.hdr
		if err := s.WriteEntry(&h, strings.NewReader(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	err = s.Write(context.Background(), filepath.Join(t.TempDir(), "x"), Gzip)
	if err == nil || !strings.Contains(err.Error(), "replaces") {
		t.Errorf("got %v, want an error about the replaced link target", err)
	}
}

func TestSquashfsCompLevels(t *testing.T) {
	for _, tc := range []struct {
		c        Compression
		archive  bool
		programs bool
		size     int64
		want     string
	}{
		{Zstd, false, false, 1 << 20, "-comp zstd -Xcompression-level 15 -b " + smallBlock},
		{Zstd, false, false, smallPart, "-comp zstd -Xcompression-level 6"},
		{Zstd, false, false, largeArchive + 1, "-comp zstd -Xcompression-level 6"},
		{Zstd, true, false, 1 << 20, "-comp zstd -Xcompression-level 19 -b " + archiveBlock},
		{Zstd, true, false, largeArchive, "-comp zstd -Xcompression-level 19 -b " + archiveBlock},
		{Zstd, true, false, largeArchive + 1, "-comp zstd -Xcompression-level 15 -b " + archiveBlock},
		{Zstd, true, true, 1 << 20, "-comp zstd -Xcompression-level 19 -b " + programBlock},
		{Zstd, true, true, largeArchive + 1, "-comp zstd -Xcompression-level 15 -b " + programBlock},
		{Gzip, true, true, 1 << 20, "-comp gzip -Xcompression-level 6"},
		{LZ4, true, false, largeArchive + 1, "-comp lz4"},
		{LZ4, false, false, 1 << 20, "-comp lz4 -b " + smallBlock},
		{Gzip, false, false, 0, "-comp gzip -Xcompression-level 6 -b " + smallBlock},
		{None, false, false, smallPart, "-comp gzip -Xcompression-level 6"},
	} {
		if got := strings.Join(squashfsComp(tc.c, tc.archive, tc.programs, tc.size), " "); got != tc.want {
			t.Errorf("squashfsComp(%s, %v, %v, %d) = %q, want %q", tc.c, tc.archive, tc.programs, tc.size, got, tc.want)
		}
	}
}
