package pkgbuild

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-os/keel/packer/image"
)

// TestBuildPerArch builds the fixture for each architecture and for all of
// them: the amd64 tag is the one Tag gives without an architecture (so
// existing tags stay), every architecture has its own tag, its image config
// and binaries are for it, and the ArchAll index holds exactly the
// per-architecture images.
func TestBuildPerArch(t *testing.T) {
	ctx := context.Background()
	cache := openCache(t)
	plain, err := Load("testdata/hello")
	if err != nil {
		t.Fatal(err)
	}
	amd64Tag, err := plain.Tag()
	if err != nil {
		t.Fatal(err)
	}
	machines := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}
	refs := map[string]string{}
	for _, arch := range image.Architectures {
		ref, err := Build(ctx, "testdata/hello", Options{Cache: cache, Arch: arch})
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		refs[arch] = ref
		if show, err := RefFor(ctx, "testdata/hello", arch); err != nil || show != ref {
			t.Errorf("RefFor(%s) = %s, %v; want Build's %s", arch, show, err, ref)
		}
		img, err := cache.GetArch(ref, arch)
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != arch || cf.OS != "linux" {
			t.Errorf("%s: image config platform %s/%s, want linux/%s", arch, cf.OS, cf.Architecture, arch)
		}
		bin := flatten(t, img)["usr/bin/hello"].data
		f, err := elf.NewFile(bytes.NewReader(bin))
		if err != nil {
			t.Fatalf("%s: /usr/bin/hello: %v", arch, err)
		}
		if f.Machine != machines[arch] {
			t.Errorf("%s: /usr/bin/hello is for %v, want %v", arch, f.Machine, machines[arch])
		}
	}
	if got := refs["amd64"]; got != "keeltest/hello:"+amd64Tag {
		t.Errorf("amd64 ref = %s, want the architecture-less tag keeltest/hello:%s", got, amd64Tag)
	}
	if refs["amd64"] == refs["arm64"] {
		t.Errorf("amd64 and arm64 builds share the ref %s", refs["amd64"])
	}

	all, err := Build(ctx, "testdata/hello", Options{Cache: cache, Arch: ArchAll})
	if err != nil {
		t.Fatal(err)
	}
	if show, err := RefFor(ctx, "testdata/hello", ArchAll); err != nil || show != all {
		t.Errorf("RefFor(all) = %s, %v; want Build's %s", show, err, all)
	}
	for arch, ref := range refs {
		if all == ref {
			t.Errorf("the index has the %s ref %s", arch, ref)
		}
		img, err := cache.GetArch(all, arch)
		if err != nil {
			t.Fatalf("index, %s: %v", arch, err)
		}
		want, err := cache.GetArch(ref, arch)
		if err != nil {
			t.Fatal(err)
		}
		gd, _ := img.Digest()
		wd, _ := want.Digest()
		if gd != wd {
			t.Errorf("index's %s image is %s, want the %s build %s", arch, gd, arch, wd)
		}
	}
}

func TestBuildRefusesUnknownArch(t *testing.T) {
	_, err := Build(context.Background(), "testdata/hello", Options{Cache: openCache(t), Arch: "riscv64"})
	if err == nil || !strings.Contains(err.Error(), "riscv64") {
		t.Errorf("Build for riscv64: got %v, want an error naming riscv64", err)
	}
}

func TestLockFileFor(t *testing.T) {
	for _, tc := range []struct{ arch, want string }{
		{"", "debian.lock"},
		{"amd64", "debian.lock"},
		{"arm64", "debian.arm64.lock"},
	} {
		if got := LockFileFor(tc.arch); got != tc.want {
			t.Errorf("LockFileFor(%q) = %s, want %s", tc.arch, got, tc.want)
		}
	}
}

// An {arch} kernel name locks, for amd64, exactly what the literal amd64
// name locked, so lock files written before {arch} stay valid.
func TestKernelArchPlaceholderKeepsAmd64Lock(t *testing.T) {
	input := func(kernel, arch string) string {
		t.Helper()
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "build.yml"), []byte("image: kernel\nkernel:\n  debian: "+kernel+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		p.Arch = arch
		return p.lockInput()
	}
	for _, tc := range []struct {
		arch, literal string
	}{
		{"amd64", "linux-image-cloud-amd64"},
		{"arm64", "linux-image-cloud-arm64"},
	} {
		if got, want := input("linux-image-cloud-{arch}", tc.arch), input(tc.literal, tc.arch); got != want {
			t.Errorf("%s: lock input of the {arch} name %s, want that of %s: %s", tc.arch, got, tc.literal, want)
		}
	}
}

// Packages of other architectures in apt's answers are skipped: each
// architecture's closure has its own packages, Architecture: all ones are
// shared.
func TestDebClosurePicksArch(t *testing.T) {
	sum := "SHA256: " + strings.Repeat("a", 64)
	both := func(pkg string, fields ...string) string {
		var out []string
		for _, arch := range []string{"amd64", "arm64"} {
			out = append(out, strings.Join(append([]string{"Package: " + pkg, "Version: 1", "Architecture: " + arch, sum}, fields...), "\n"))
		}
		return strings.Join(out, "\n\n")
	}
	world := map[string]string{
		"app":  both("app", "Depends: libx, data"),
		"libx": both("libx"),
		"data": "Package: data\nVersion: 1\nArchitecture: all\n" + sum,
	}
	for _, arch := range image.Architectures {
		got, err := debClosure(context.Background(), &fakeApt{stanzas: world}, arch, []string{"app"}, nil)
		if err != nil {
			t.Fatalf("%s: %v", arch, err)
		}
		var ids []string
		for _, d := range got[0] {
			ids = append(ids, d.Package+":"+d.Arch)
		}
		want := "data:all libx:" + arch + " app:" + arch
		if strings.Join(ids, " ") != want {
			t.Errorf("%s closure = %s, want %s", arch, strings.Join(ids, " "), want)
		}
	}
}

// TestArchesLimitsBuilds checks build.yml's arches: a package listing only
// amd64 refuses an arm64 build with a message naming its arches, and its
// "all" index holds the amd64 image alone.
func TestArchesLimitsBuilds(t *testing.T) {
	ctx := context.Background()
	cache := openCache(t)
	dir := writePkg(t, "image: only\norg: keeltest\narches: [amd64]\nfiles:\n  - path: /etc/x\n    contents: x\n")
	_, err := Build(ctx, dir, Options{Cache: cache, Arch: "arm64"})
	if err == nil || !strings.Contains(err.Error(), "built for amd64 only") {
		t.Errorf("arm64 build of an amd64-only package: got %v, want an error saying it is built for amd64 only", err)
	}
	if _, err := RefFor(ctx, dir, "arm64"); err == nil {
		t.Error("RefFor(arm64) of an amd64-only package succeeded, want the same refusal as Build")
	}
	all, err := Build(ctx, dir, Options{Cache: cache, Arch: ArchAll})
	if err != nil {
		t.Fatal(err)
	}
	if show, err := RefFor(ctx, dir, ArchAll); err != nil || show != all {
		t.Errorf("RefFor(all) = %s, %v; want Build's %s", show, err, all)
	}
	if _, err := cache.GetArch(all, "amd64"); err != nil {
		t.Errorf("the index has no amd64 image: %v", err)
	}
	if _, err := cache.GetArch(all, "arm64"); err == nil {
		t.Error("the index of an amd64-only package has an arm64 image")
	}
}
