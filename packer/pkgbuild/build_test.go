package pkgbuild

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-os/keel/internal/testkernel"
	"github.com/keel-os/keel/internal/testutil"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	kbundle "github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/kernel"
)

type entry struct {
	hdr  *tar.Header
	data []byte
}

func flatten(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := image.Flatten(img)
	defer rc.Close()
	out := map[string]entry{}
	for _, e := range testutil.ReadTar(t, rc) {
		out[strings.TrimSuffix(e.Header.Name, "/")] = entry{e.Header, e.Data}
	}
	return out
}

func openCache(t *testing.T) *image.Cache {
	t.Helper()
	c, err := image.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func imageDigest(t *testing.T, c *image.Cache, ref string) v1.Hash {
	t.Helper()
	img, err := c.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBuildFixture(t *testing.T) {
	cache := openCache(t)
	var progress bytes.Buffer
	opt := Options{Cache: cache, Stdout: &progress}
	ref, err := Build(context.Background(), "testdata/hello", opt)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, "keeltest/hello:") || len(ref) != len("keeltest/hello:")+TagLength {
		t.Errorf("ref = %q, want keeltest/hello:<%d hex digits>", ref, TagLength)
	}
	img, err := cache.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	files := flatten(t, img)
	bin := files["usr/bin/hello"]
	if !bytes.HasPrefix(bin.data, []byte("\x7fELF")) || bin.hdr.Mode != 0o755 {
		t.Errorf("/usr/bin/hello: mode %o, %d bytes; want a 0755 ELF binary", bin.hdr.Mode, len(bin.data))
	}
	if string(files["etc/motd"].data) != "Welcome to the pkgbuild fixture.\n" {
		t.Errorf("/etc/motd = %q", files["etc/motd"].data)
	}
	if g := files["etc/greeting"]; string(g.data) != "hello\n" || g.hdr.Mode != 0o600 {
		t.Errorf("/etc/greeting = %q mode %o, want \"hello\\n\" 0600", g.data, g.hdr.Mode)
	}
	if l := files["bin/hi"]; l.hdr == nil || l.hdr.Typeflag != tar.TypeSymlink || l.hdr.Linkname != "/usr/bin/hello" {
		t.Errorf("/bin/hi is not a symlink to /usr/bin/hello: %+v", l.hdr)
	}
	if d := files["var/empty"]; d.hdr == nil || d.hdr.Typeflag != tar.TypeDir {
		t.Error("/var/empty is not a directory")
	}
	label, ok, err := image.Label(img, kbundle.LabelKey)
	if want := `{"binds":["/run:/run"],"capabilities":["CAP_NET_ADMIN"]}`; !ok || err != nil || label != want {
		t.Errorf("label = %s, %v, %v; want %s", label, ok, err, want)
	}
	cfg, _ := image.Config(img)
	if strings.Join(cfg.Entrypoint, " ") != "/usr/bin/hello" || strings.Join(cfg.Env, " ") != "GREETING=hi" {
		t.Errorf("entrypoint %v env %v", cfg.Entrypoint, cfg.Env)
	}
	first := imageDigest(t, cache, ref)

	// Unchanged inputs: nothing is built.
	progress.Reset()
	if again, err := Build(context.Background(), "testdata/hello", opt); err != nil || again != ref {
		t.Fatalf("second Build = %s, %v; want %s", again, err, ref)
	}
	if !strings.Contains(progress.String(), "up to date") || strings.Contains(progress.String(), "go build") {
		t.Errorf("second Build did work: %q", progress.String())
	}

	// Forced rebuilds into a fresh cache give the same digest.
	other := openCache(t)
	opt.Cache, opt.Force = other, true
	if _, err := Build(context.Background(), "testdata/hello", opt); err != nil {
		t.Fatal(err)
	}
	if second := imageDigest(t, other, ref); second != first {
		t.Errorf("rebuild digest %s, want %s", second, first)
	}
}

// tempModule lays out a one-package module with a package dir, so tests
// can change its files.
func tempModule(t *testing.T, mainGo string) string {
	t.Helper()
	root := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/m\n\ngo 1.22\n")
	write("cmd/app/main.go", mainGo)
	write("other/other.go", "package other\n")
	write("pkg/build.yml", "image: app\ngo:\n  - package: ./cmd/app\n    output: /app\nfiles:\n  - source: data.txt\n    path: /data.txt\n")
	write("pkg/data.txt", "one\n")
	return root
}

func tagOf(t *testing.T, dir string) string {
	t.Helper()
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := p.Tag()
	if err != nil {
		t.Fatal(err)
	}
	return tag
}

func TestTagFollowsInputs(t *testing.T) {
	root := tempModule(t, "package main\n\nfunc main() {}\n")
	pkg := filepath.Join(root, "pkg")
	base := tagOf(t, pkg)
	if again := tagOf(t, pkg); again != base {
		t.Fatalf("tag not stable: %s then %s", base, again)
	}
	steps := []struct {
		name    string
		change  func() error
		changes bool
	}{
		{"file outside the dependency closure", func() error {
			return os.WriteFile(filepath.Join(root, "other/other.go"), []byte("package other\n\nvar X = 1\n"), 0o644)
		}, false},
		{"file source content", func() error {
			return os.WriteFile(filepath.Join(pkg, "data.txt"), []byte("two\n"), 0o644)
		}, true},
		{"file source mode", func() error { return os.Chmod(filepath.Join(pkg, "data.txt"), 0o600) }, true},
		{"Go source", func() error {
			return os.WriteFile(filepath.Join(root, "cmd/app/main.go"), []byte("package main\n\nfunc main() { println() }\n"), 0o644)
		}, true},
		{"new Go file in the package", func() error {
			return os.WriteFile(filepath.Join(root, "cmd/app/extra.go"), []byte("package main\n"), 0o644)
		}, true},
		{"go.sum", func() error { return os.WriteFile(filepath.Join(root, "go.sum"), []byte("x v1 h1:y\n"), 0o644) }, true},
		{"build.yml", func() error {
			return os.WriteFile(filepath.Join(pkg, FileName), []byte("image: app\ngo:\n  - package: ./cmd/app\n    output: /app\n    tags: [x]\nfiles:\n  - source: data.txt\n    path: /data.txt\n"), 0o644)
		}, true},
	}
	prev := base
	for _, s := range steps {
		if err := s.change(); err != nil {
			t.Fatal(err)
		}
		got := tagOf(t, pkg)
		if changed := got != prev; changed != s.changes {
			t.Errorf("%s: tag changed = %v, want %v (%s -> %s)", s.name, changed, s.changes, prev, got)
		}
		prev = got
	}
}

func TestFailedBuildLeavesNoEntry(t *testing.T) {
	root := tempModule(t, "package main\n\nvar x int = \"not an int\"\n\nfunc main() {}\n")
	cache := openCache(t)
	_, err := Build(context.Background(), filepath.Join(root, "pkg"), Options{Cache: cache})
	if err == nil || !strings.Contains(err.Error(), "cannot use") {
		t.Fatalf("Build of a broken program: got %v, want the compiler's message", err)
	}
	if entries, err := cache.List(); err != nil || len(entries) != 0 {
		t.Errorf("cache after a failed build: %v, %v; want empty", entries, err)
	}
}

func needApt(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("apt-cache"); err != nil {
		t.Skip("needs apt-cache")
	}
}

func TestMissingDebianPackage(t *testing.T) {
	needApt(t)
	p, err := Load(writePkg(t, "image: x\ndebian: [keel-no-such-package-xyz]\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Tag()
	if err == nil || !strings.Contains(err.Error(), `"keel-no-such-package-xyz" not found`) || !strings.Contains(err.Error(), "apt-get update") {
		t.Errorf("Tag with a bogus Debian package: got %v, want a not-found error with a hint", err)
	}
}

// debCache returns a deb cache holding info's .deb, or skips the test when
// it cannot be had.
func debCache(t *testing.T, pkg string) string {
	t.Helper()
	needApt(t)
	info, err := aptShow(context.Background(), pkg, "amd64")
	if err != nil {
		t.Skipf("%s is not known to apt here: %v", pkg, err)
	}
	dir := t.TempDir()
	if _, err := fetchDeb(context.Background(), dir, info, io.Discard); err != nil {
		t.Skipf("cannot download %s: %v", pkg, err)
	}
	return dir
}

func TestDebianBusybox(t *testing.T) {
	debs := debCache(t, "busybox-static")
	dir := writePkg(t, "image: bb\ndebian: [busybox-static]\nfiles:\n  - path: /bin/sh\n    symlink: busybox\n")
	cache := openCache(t)
	ref, err := Build(context.Background(), dir, Options{Cache: cache, DebCache: debs})
	if err != nil {
		t.Fatal(err)
	}
	img, err := cache.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	files := flatten(t, img)
	bb := files["bin/busybox"]
	if !bytes.HasPrefix(bb.data, []byte("\x7fELF")) || bb.hdr.Mode&0o111 == 0 {
		t.Errorf("/bin/busybox: %d bytes mode %o, want an executable ELF file", len(bb.data), bb.hdr.Mode)
	}
	if sh := files["bin/sh"]; sh.hdr == nil || sh.hdr.Linkname != "busybox" {
		t.Error("/bin/sh is not the package's symlink to busybox")
	}
}

func TestKernelPackage(t *testing.T) {
	needApt(t)
	p, err := Load("../../pkgs/kernel")
	if err != nil {
		t.Fatal(err)
	}
	tag, err := p.Tag()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(p.kernelDeb.Package, "linux-image-") || !strings.HasSuffix(p.kernelDeb.Package, "-cloud-amd64") || p.kernelDeb.Package == "linux-image-cloud-amd64" {
		t.Errorf("resolved kernel package %q, want linux-image-<version>-cloud-amd64", p.kernelDeb.Package)
	}
	if len(tag) != TagLength {
		t.Errorf("tag %q, want %d hex digits", tag, TagLength)
	}
	if testing.Short() {
		return
	}

	// Build from the pre-downloaded .deb when it is the candidate.
	deb, _ := testkernel.Deb(t)
	if filepath.Base(deb) != p.kernelDeb.FileName() {
		t.Skipf("the cached kernel package %s is not apt's candidate %s", filepath.Base(deb), p.kernelDeb.FileName())
	}
	debs := t.TempDir()
	if err := os.Symlink(deb, filepath.Join(debs, filepath.Base(deb))); err != nil {
		t.Fatal(err)
	}
	cache := openCache(t)
	ref, err := Build(context.Background(), "../../pkgs/kernel", Options{Cache: cache, DebCache: debs})
	if err != nil {
		t.Fatal(err)
	}
	img, err := cache.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := image.Label(img, kernel.VersionLabel); !ok || !strings.HasSuffix(v, "-cloud-amd64") {
		t.Errorf("kernel version label = %q, want <version>-cloud-amd64", v)
	}
}

func TestCgoStaticBinary(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("needs gcc")
	}
	root := tempModule(t, "package main\n\n// int two(void) { return 2; }\nimport \"C\"\n\nfunc main() { println(C.two()) }\n")
	yml := "image: app\ngo:\n  - package: ./cmd/app\n    output: /app\n    cgo: true\n"
	if err := os.WriteFile(filepath.Join(root, "pkg", FileName), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := openCache(t)
	ref, err := Build(context.Background(), filepath.Join(root, "pkg"), Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	img, err := cache.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.NewFile(bytes.NewReader(flatten(t, img)["app"].data))
	if err != nil {
		t.Fatalf("/app is not an ELF file: %v", err)
	}
	// A dynamically linked program names its interpreter.
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("/app is dynamically linked, want static")
		}
	}
}

// TestLinkTimeVariables builds a program whose version x sets, as a
// project's release script would, and runs it: the binary must print the
// values, and the image must not depend on the map's order.
func TestLinkTimeVariables(t *testing.T) {
	root := tempModule(t, "package main\n\nvar version, commit = \"dev\", \"none\"\n\nfunc main() { println(version, commit) }\n")
	yml := "image: app\ngo:\n  - package: ./cmd/app\n    output: /app\n    x:\n      main.version: v1.2.3\n      main.commit: abc\n"
	if err := os.WriteFile(filepath.Join(root, "pkg", FileName), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := openCache(t)
	ref, err := Build(context.Background(), filepath.Join(root, "pkg"), Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	img, err := cache.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(bin, flatten(t, img)["app"].data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil {
		t.Fatalf("running the built program: %v: %s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "v1.2.3 abc"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestXFlags(t *testing.T) {
	tests := []struct {
		x    map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"main.b": "2", "main.a": "1"}, " -X main.a=1 -X main.b=2"},
		{map[string]string{"k8s.io/component-base/version.gitVersion": "v1.37.2"}, " -X k8s.io/component-base/version.gitVersion=v1.37.2"},
	}
	for _, tc := range tests {
		if got := xFlags(tc.x); got != tc.want {
			t.Errorf("xFlags(%v): got %q, want %q", tc.x, got, tc.want)
		}
	}
}
