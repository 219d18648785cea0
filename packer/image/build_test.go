package image

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/keel-os/keel/internal/testutil"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	kbundle "github.com/keel-os/keel/internal/bundle"
)

type tarEntry struct {
	name    string
	typ     byte
	mode    int64
	content string
	link    string
}

func readTar(t *testing.T, r io.Reader) []tarEntry {
	t.Helper()
	var out []tarEntry
	for _, e := range testutil.ReadTar(t, r) {
		h, b := e.Header, e.Data
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(Epoch) {
			t.Errorf("%s: uid=%d gid=%d uname=%q gname=%q mtime=%v; want 0 0 \"\" \"\" %v", h.Name, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime, Epoch)
		}
		out = append(out, tarEntry{name: h.Name, typ: h.Typeflag, mode: h.Mode, content: string(b), link: h.Linkname})
	}
	return out
}

func sampleTree(t *testing.T, motd string) *Tree {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, []byte("from disk"), 0o600); err != nil {
		t.Fatal(err)
	}
	tr := NewTree()
	for _, err := range []error{
		tr.AddBytes("/etc/motd", 0o644, []byte(motd)),
		tr.AddFile("/usr/bin/tool", 0o755|os.ModeSetuid, src),
		tr.AddSymlink("/bin/sh", "busybox"),
		tr.AddDir("/var/empty", 0o700),
		tr.AddBytes("/etc/replaced", 0o644, []byte("old")),
		tr.AddBytes("/etc/replaced", 0o600, []byte("new")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return tr
}

func TestTreeWriteTar(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleTree(t, "hi\n").WriteTar(&buf); err != nil {
		t.Fatal(err)
	}
	got := readTar(t, &buf)
	want := []tarEntry{
		{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "bin/sh", typ: tar.TypeSymlink, mode: 0o777, link: "busybox"},
		{name: "etc/", typ: tar.TypeDir, mode: 0o755},
		{name: "etc/motd", typ: tar.TypeReg, mode: 0o644, content: "hi\n"},
		{name: "etc/replaced", typ: tar.TypeReg, mode: 0o600, content: "new"},
		{name: "usr/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/bin/", typ: tar.TypeDir, mode: 0o755},
		{name: "usr/bin/tool", typ: tar.TypeReg, mode: 0o4755, content: "from disk"},
		{name: "var/", typ: tar.TypeDir, mode: 0o755},
		{name: "var/empty/", typ: tar.TypeDir, mode: 0o700},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("tar entries:\n got %v\nwant %v", got, want)
	}
}

func TestTreeErrors(t *testing.T) {
	tests := []struct {
		name string
		add  func(*Tree) error
	}{
		{"relative path", func(tr *Tree) error { return tr.AddBytes("etc/x", 0o644, nil) }},
		{"root", func(tr *Tree) error { return tr.AddDir("/", 0o755) }},
		{"parent is a file", func(tr *Tree) error {
			if err := tr.AddBytes("/a", 0o644, nil); err != nil {
				return nil // must not fail here: report "no error" to fail the test
			}
			return tr.AddBytes("/a/b", 0o644, nil)
		}},
		{"file over a non-empty directory", func(tr *Tree) error {
			if err := tr.AddBytes("/a/b", 0o644, nil); err != nil {
				return nil
			}
			return tr.AddSymlink("/a", "x")
		}},
		{"empty symlink", func(tr *Tree) error { return tr.AddSymlink("/l", "") }},
	}
	for _, tc := range tests {
		if err := tc.add(NewTree()); err == nil {
			t.Errorf("%s: got nil error, want one", tc.name)
		}
	}
}

func TestAddDirTree(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "usr/lib"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/lib/x.so"), []byte("elf"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("usr/lib", filepath.Join(root, "lib")); err != nil {
		t.Fatal(err)
	}
	tr := NewTree()
	if err := tr.AddDirTree("/", root); err != nil {
		t.Fatal(err)
	}
	if err := tr.AddDirTree("/opt/copy", root); err != nil {
		t.Fatal(err)
	}
	want := "/lib /opt/copy /opt/copy/lib /opt/copy/usr /opt/copy/usr/lib /opt/copy/usr/lib/x.so /usr /usr/lib /usr/lib/x.so"
	if got := strings.Join(tr.Paths(), " "); got != want {
		t.Errorf("paths:\n got %s\nwant %s", got, want)
	}
}

func TestNewImageDeterministic(t *testing.T) {
	cfg := v1.Config{Labels: map[string]string{kbundle.LabelKey: `{"binds":["/a:/a"]}`}, Cmd: []string{"/bin/sh"}}
	a, err := NewImage(sampleTree(t, "hi\n"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewImage(sampleTree(t, "hi\n"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewImage(sampleTree(t, "bye\n"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, a) != digest(t, b) {
		t.Errorf("same tree, different digests: %s %s", digest(t, a), digest(t, b))
	}
	if digest(t, a) == digest(t, c) {
		t.Errorf("different trees, same digest %s", digest(t, a))
	}

	cf, err := a.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || !cf.Created.Time.Equal(Epoch) || len(cf.History) != 0 {
		t.Errorf("config: os=%s arch=%s created=%v history=%d; want linux amd64 %v 0", cf.OS, cf.Architecture, cf.Created, len(cf.History), Epoch)
	}
	if v, ok, err := Label(a, kbundle.LabelKey); !ok || err != nil || v != `{"binds":["/a:/a"]}` {
		t.Errorf("Label = %q, %v, %v", v, ok, err)
	}
	if _, ok, _ := Label(a, "nope"); ok {
		t.Error("Label of an unset key reported set")
	}
	if got, _ := Config(a); len(got.Cmd) != 1 || got.Cmd[0] != "/bin/sh" {
		t.Errorf("Config().Cmd = %v, want [/bin/sh]", got.Cmd)
	}

	layers, err := a.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers = %d, %v; want 1", len(layers), err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	hdr := make([]byte, 10)
	if _, err := io.ReadFull(rc, hdr); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	// gzip header: FLG (byte 3) has no FNAME, MTIME (bytes 4-7) is zero.
	if hdr[3]&0x08 != 0 || !bytes.Equal(hdr[4:8], []byte{0, 0, 0, 0}) {
		t.Errorf("gzip header %x carries a name or a time", hdr)
	}

	// Stored and read back, the image keeps its digest (it already names
	// its platform).
	cache, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := cache.Put("keel/x:1", a); err != nil {
		t.Fatal(err)
	}
	back, err := cache.Get("keel/x:1")
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, back) != digest(t, a) {
		t.Errorf("digest after Put/Get: got %s, want %s", digest(t, back), digest(t, a))
	}
	rc = Flatten(back)
	defer rc.Close()
	if n := len(readTar(t, rc)); n != 10 {
		t.Errorf("flattened entries: got %d, want 10", n)
	}
}

func layerFromTar(t *testing.T, entries []tarEntry) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.content)), ModTime: Epoch}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestFlattenAppliesWhiteouts(t *testing.T) {
	dir, reg := byte(tar.TypeDir), byte(tar.TypeReg)
	lower := layerFromTar(t, []tarEntry{
		{name: "a/", typ: dir}, {name: "a/x", typ: reg, content: "x"}, {name: "a/y", typ: reg, content: "y"},
		{name: "b/", typ: dir}, {name: "b/z", typ: reg, content: "z"}, {name: "c", typ: reg, content: "old"},
		{name: "d/", typ: dir}, {name: "d/gone", typ: reg},
	})
	upper := layerFromTar(t, []tarEntry{
		{name: "a/.wh.x", typ: reg},           // delete one file
		{name: "b/.wh..wh..opq", typ: reg},    // hide the lower directory's content
		{name: "b/w", typ: reg, content: "w"}, // ... but keep this layer's
		{name: "c", typ: reg, content: "new"}, // override a file
		{name: ".wh.d", typ: reg},             // delete a whole directory
	})
	img, err := mutate.AppendLayers(empty.Image, lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	rc := Flatten(img)
	defer rc.Close()
	files := map[string]string{}
	for _, e := range readTar(t, rc) {
		if e.typ == tar.TypeReg {
			files[e.name] = e.content
		}
	}
	var names []string
	for n, c := range files {
		names = append(names, n+"="+c)
	}
	sort.Strings(names)
	want := "a/y=y b/w=w c=new"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("flattened files: got %s, want %s", got, want)
	}
}
