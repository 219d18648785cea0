package pkgbuild

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/keel-os/keel/packer/image"
)

// reproPackages are built twice by TestReproducible: one Go program, one
// Debian package from its lock file. KEEL_REPRO_ALL=1 builds every package
// in pkgs/ instead (slow: the kernel, containerd) and logs digests and
// sizes, the measurement behind the reproducibility claim.
// KEEL_REPRO_PKGS names the packages to build instead, as paths under pkgs/
// separated by spaces (make repro-kubernetes: "kubernetes/node ...").
var reproPackages = []string{"hello", "ca-certificates"}

// TestReproducible builds real packages into two empty image caches and
// wants the same image digest from both. The second build of the default
// set compiles with an empty Go build cache too, so nothing is reused from
// the first. Debian packages are downloaded once: they are inputs, checked
// against the lock file's SHA-256 either way.
func TestReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: builds real packages twice")
	}
	needApt(t)
	pkgsDir, err := filepath.Abs("../../pkgs")
	if err != nil {
		t.Fatal(err)
	}
	names, freshGo := reproPackages, true
	if os.Getenv("KEEL_REPRO_ALL") == "1" {
		// Compiling containerd and the rest from nothing would take long.
		freshGo = false
		entries, err := os.ReadDir(pkgsDir)
		if err != nil {
			t.Fatal(err)
		}
		names = nil
		for _, e := range entries {
			// kubernetes-images carries Kubernetes' images: building it
			// compiles Kubernetes, which is make repro-kubernetes's work.
			if e.Name() == "kubernetes-images" {
				continue
			}
			if _, err := os.Stat(filepath.Join(pkgsDir, e.Name(), FileName)); err == nil {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
	}
	if list := os.Getenv("KEEL_REPRO_PKGS"); list != "" {
		// Kubernetes' programs take many CPU minutes each from nothing.
		names, freshGo = strings.Fields(list), false
	}
	debs := t.TempDir()
	if c := os.Getenv("KEEL_CACHE"); c != "" {
		debs = filepath.Join(c, "debs")
	}
	first, second := openCache(t), openCache(t)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			dir := filepath.Join(pkgsDir, n)
			var refs [2]string
			for i, c := range []*image.Cache{first, second} {
				if i == 1 && freshGo {
					t.Setenv("GOCACHE", t.TempDir())
				}
				ref, err := Build(context.Background(), dir, Options{Cache: c, DebCache: debs})
				if err != nil {
					t.Fatal(err)
				}
				refs[i] = ref
			}
			if refs[0] != refs[1] {
				t.Fatalf("tag: got %s then %s, want one tag", refs[0], refs[1])
			}
			a, b := imageDigest(t, first, refs[0]), imageDigest(t, second, refs[1])
			if a != b {
				t.Errorf("%s: digests %s and %s, want equal", refs[0], a, b)
			}
			sa, _ := storedSBOM(t, first, refs[0])
			sb, _ := storedSBOM(t, second, refs[1])
			if !bytes.Equal(sa, sb) {
				t.Errorf("%s: the two SBOMs differ, want the same bytes", refs[0])
			}
			img, err := first.Get(refs[0])
			if err != nil {
				t.Fatal(err)
			}
			size, err := image.StoredSize(img)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%-16s %s %s %s %d", n, refs[0], a, b, size)
		})
	}
}
