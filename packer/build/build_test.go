package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-os/keel/internal/testutil"

	"github.com/cavaliergopher/cpio"
	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/spec"
)

// fixture is a cache holding a tiny kernel, init and service image, the
// way LinuxKit lays them out.
type fixture struct {
	cache *image.Cache
	spec  string
}

func treeImage(t testing.TB, files map[string]string, cfg v1.Config) v1.Image {
	t.Helper()
	tr := image.NewTree()
	for p, c := range files {
		if err := tr.AddBytes(p, 0o755, []byte(c)); err != nil {
			t.Fatal(err)
		}
	}
	img, err := image.NewImage(tr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func modulesTar(t testing.TB) string {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	data := "module"
	tw.WriteHeader(&tar.Header{Name: "lib/modules/6.1.0/a.ko", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))})
	io.WriteString(tw, data)
	tw.Close()
	return buf.String()
}

func newFixture(t testing.TB, svcRef string) *fixture {
	t.Helper()
	c, err := image.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put := func(ref string, img v1.Image) {
		if err := c.Put(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	put("test/kernel:1", treeImage(t, map[string]string{"/kernel": "KERNEL", "/kernel.tar": modulesTar(t)}, v1.Config{}))
	put("test/init:1", treeImage(t, map[string]string{"/init": "#!/bin/sh\n"}, v1.Config{}))
	if svcRef == "" {
		svcRef = "test/svc:1"
		put(svcRef, treeImage(t, map[string]string{"/bin/svc": "svc"}, v1.Config{Entrypoint: []string{"/bin/svc"}}))
	}
	src := `kernel:
  image: test/kernel:1
  cmdline: "console=ttyS0"
init:
  - test/init:1
onboot:
  - name: first
    image: test/init:1
    command: ["/init"]
services:
  - name: svc
    image: ` + svcRef + `
files:
  - path: etc/keel.yml
    metadata: yaml
  - path: etc/keel.json
    metadata: json
  - path: etc/motd
    contents: "hi\n"
    mode: "0644"
`
	return &fixture{cache: c, spec: src}
}

func (f *fixture) run(t testing.TB, dir string, mod func(*Options)) (*Result, error) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "sys.yml")
	if err := os.WriteFile(file, []byte(f.spec), 0o644); err != nil {
		t.Fatal(err)
	}
	// The tests read the plain initrd's archives; the squashfs root (the
	// default) has tests of its own (squashroot_test.go).
	opt := Options{Files: []string{file}, Dir: dir, Name: "sys", Cache: f.cache, Rootfs: RootfsInitrd,
		Puller: &image.Puller{Cache: f.cache, Keychain: authn.NewMultiKeychain()}}
	if mod != nil {
		mod(&opt)
	}
	return Run(context.Background(), opt)
}

// readInitrd returns the initrd's entries by name.
func readInitrd(t testing.TB, file string) map[string]*cpioEntry {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := unpack(bufio.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*cpioEntry{}
	readArchives(t, bufio.NewReader(z), out)
	return out
}

// unpack decompresses an initrd stream of the default compression (zstd)
// or gzip, as the kernel tells them: by their magic numbers. Both readers
// read on through concatenated streams (one per segment).
func unpack(in *bufio.Reader) (io.Reader, error) {
	magic, err := in.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("reading the initrd's magic number: %w", err)
	}
	switch {
	case bytes.Equal(magic[:2], []byte{0x1f, 0x8b}):
		return gzip.NewReader(in)
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return zstd.NewReader(in, zstd.WithDecoderConcurrency(1))
	}
	return nil, fmt.Errorf("initrd starts with % x: neither gzip nor zstd", magic)
}

// readArchives adds the entries of a sequence of cpio archives to out.
func readArchives(t testing.TB, in *bufio.Reader, out map[string]*cpioEntry) {
	t.Helper()
	// The initrd is a sequence of archives (one per segment), each
	// ending with its own trailer; later ones override earlier ones.
	for {
		// Skip the trailer's padding, as the kernel skips NULs between
		// archives.
		b, err := in.Peek(1)
		if errors.Is(err, io.EOF) {
			return
		}
		if err == nil && b[0] == 0 {
			in.ReadByte()
			continue
		}
		r := cpio.NewReader(in)
		for {
			h, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			data, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			out[h.Name] = &cpioEntry{hdr: *h, data: data}
		}
	}
}

type cpioEntry struct {
	hdr  cpio.Header
	data []byte
}

func TestBuildIsReproducible(t *testing.T) {
	f := newFixture(t, "")
	a, b := t.TempDir(), t.TempDir()
	ra, err := f.run(t, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := f.run(t, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{ra.Kernel, rb.Kernel}, {ra.Initrd, rb.Initrd}, {ra.Cmdline, rb.Cmdline}} {
		x, err := os.ReadFile(pair[0])
		if err != nil {
			t.Fatal(err)
		}
		y, err := os.ReadFile(pair[1])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(x, y) {
			t.Errorf("%s and %s differ: the build is not reproducible", pair[0], pair[1])
		}
	}
}

func TestBuildMetadataFiles(t *testing.T) {
	f := newFixture(t, "")
	res, err := f.run(t, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	files := readInitrd(t, res.Initrd)
	y := files["etc/keel.yml"]
	if y == nil {
		t.Fatal("etc/keel.yml missing from the initrd")
	}
	s, err := spec.Parse("keel.yml", y.data)
	if err != nil {
		t.Fatalf("metadata yaml does not parse: %v\n%s", err, y.data)
	}
	if len(s.Services) != 1 || s.Services[0].Name != "svc" || !strings.Contains(s.Services[0].Image, "test/svc:1") {
		t.Errorf("metadata yaml has services %+v, want svc from test/svc:1", s.Services)
	}
	if j := files["etc/keel.json"]; j == nil || !bytes.Contains(j.data, []byte(`"cmdline": "console=ttyS0"`)) {
		t.Errorf("etc/keel.json missing or without the cmdline")
	}
	if m := files["etc/motd"]; m == nil || string(m.data) != "hi\n" || m.hdr.Mode.Perm() != 0o644 {
		t.Errorf("etc/motd = %+v, want \"hi\\n\" mode 0644", m)
	}
}

func TestBuildSourceDirectory(t *testing.T) {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "sub"), 0o750)
	os.WriteFile(filepath.Join(src, "sub", "a.conf"), []byte("a"), 0o640)
	os.Symlink("sub/a.conf", filepath.Join(src, "link"))
	f := newFixture(t, "")
	f.spec += "  - path: etc/app\n    source: " + src + "\n    uid: 5\n"
	res, err := f.run(t, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	files := readInitrd(t, res.Initrd)
	if a := files["etc/app/sub/a.conf"]; a == nil || string(a.data) != "a" || a.hdr.Mode.Perm() != 0o640 || a.hdr.Uid != 5 {
		t.Errorf("etc/app/sub/a.conf = %+v, want \"a\", 0640, uid 5", a)
	}
	if d := files["etc/app"]; d == nil || !d.hdr.Mode.IsDir() || d.hdr.Mode.Perm() != 0o755 {
		t.Errorf("etc/app = %+v, want a 0755 directory", d)
	}
	if l := files["etc/app/link"]; l == nil || l.hdr.Linkname != "sub/a.conf" {
		t.Errorf("etc/app/link = %+v, want a symlink to sub/a.conf", l)
	}
}

func TestBuildPullsMissingImages(t *testing.T) {
	srv := httptest.NewServer(testutil.RegistryHandler())
	defer srv.Close()
	ref := strings.TrimPrefix(srv.URL, "http://") + "/keel/svc:1"
	testutil.Push(t, ref, treeImage(t, map[string]string{"/bin/svc": "remote"}, v1.Config{Entrypoint: []string{"/bin/svc"}}))
	f := newFixture(t, ref)

	_, err := f.run(t, t.TempDir(), func(o *Options) { o.Pull = image.PullNever })
	if err == nil || !strings.Contains(err.Error(), "--pull=never") {
		t.Fatalf("build with --pull=never and a missing image: got %v, want a --pull=never error", err)
	}
	res, err := f.run(t, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := readInitrd(t, res.Initrd)["containers/services/svc/rootfs/bin/svc"]; got == nil || string(got.data) != "remote" {
		t.Errorf("the pulled image's file is not in the initrd: %+v", got)
	}
	// Now cached: never works, even with the registry gone.
	srv.Close()
	if _, err := f.run(t, t.TempDir(), func(o *Options) { o.Pull = image.PullNever }); err != nil {
		t.Errorf("build with --pull=never after the pull: %v", err)
	}
}

// BenchmarkBuildWarm measures `keel build` with every image cached: parse,
// plan, unpack and write kernel+initrd.
func BenchmarkBuildWarm(b *testing.B) {
	f := newFixture(b, "")
	dir := b.TempDir()
	for b.Loop() {
		if _, err := f.run(b, dir, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuildMinimalWarm builds examples/minimal.yml from the repository's
// cache (build/cache, or $KEEL_CACHE) when `make image` has filled it.
func BenchmarkBuildMinimalWarm(b *testing.B) {
	root, _ := filepath.Abs("../..")
	dir := os.Getenv("KEEL_CACHE")
	if dir == "" {
		dir = filepath.Join(root, "build", "cache")
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		b.Skipf("no warm cache at %s: run `make image` first", dir)
	}
	cache, err := image.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	out := b.TempDir()
	opt := Options{Files: []string{filepath.Join(root, "examples", "minimal.yml")}, Dir: out, Name: "minimal",
		Cache: cache, DebCache: filepath.Join(dir, "debs"), Pull: image.PullNever}
	for b.Loop() {
		if _, err := Run(context.Background(), opt); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBuildKeepsHardLinks(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg, Mode: 0o755, Size: 2})
	io.WriteString(tw, "bb")
	tw.WriteHeader(&tar.Header{Name: "bin/sh", Typeflag: tar.TypeLink, Linkname: "bin/busybox"})
	tw.WriteHeader(&tar.Header{Name: "sbin/init", Typeflag: tar.TypeLink, Linkname: "/bin/busybox"})
	tw.Close()
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.Config(img, v1.Config{Entrypoint: []string{"/bin/sh"}}); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, "")
	if err := f.cache.Put("test/svc:1", img); err != nil {
		t.Fatal(err)
	}
	res, err := f.run(t, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	files := readInitrd(t, res.Initrd)
	const root = "containers/services/svc/rootfs/"
	bb := files[root+"bin/busybox"]
	if bb == nil || string(bb.data) != "bb" {
		t.Fatalf("bin/busybox = %+v, want a file holding bb", bb)
	}
	for _, n := range []string{"bin/sh", "sbin/init"} {
		e := files[root+n]
		if e == nil || !e.hdr.Mode.IsRegular() || e.hdr.Inode != bb.hdr.Inode || e.hdr.Links < 2 {
			t.Errorf("%s = %+v, want a hard link to bin/busybox (inode %d, nlink >= 2)", n, e, bb.hdr.Inode)
		}
	}
}
