// Package testkernel gives tests the real Debian cloud kernel package that
// Keel's build downloads into its cache (`keel pkg build pkgs/kernel`), so
// module-index and kernel-image tests check real data wherever the build
// has run, and skip with a message where it has not.
package testkernel

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Deb returns the newest cached linux-image-*-cloud-amd64 .deb and its
// kernel version ("6.1.0-56-cloud-amd64"), or skips the test.
func Deb(t testing.TB) (path, version string) {
	t.Helper()
	var dirs []string
	if c := os.Getenv("KEEL_CACHE"); c != "" {
		dirs = append(dirs, filepath.Join(c, "debs"))
	}
	if root := moduleRoot(); root != "" {
		dirs = append(dirs, filepath.Join(root, "build", "cache", "debs"))
	}
	for _, d := range dirs {
		m, _ := filepath.Glob(filepath.Join(d, "linux-image-*-cloud-amd64_*.deb"))
		if len(m) == 0 {
			continue
		}
		sort.Strings(m)
		p := m[len(m)-1]
		name := strings.TrimPrefix(filepath.Base(p), "linux-image-")
		v, _, _ := strings.Cut(name, "_")
		return p, v
	}
	t.Skipf("no Debian cloud kernel package in %v: run `make test` (or `keel pkg build pkgs/kernel`) first", dirs)
	return "", ""
}

// Unpacked extracts the package into a temporary directory (files only, as
// the packer does) and returns it with the kernel version.
func Unpacked(t testing.TB) (root, version string) {
	t.Helper()
	deb, v := Deb(t)
	dir := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x %s: %v\n%s", deb, err, out)
	}
	return dir, v
}

// moduleRoot is the directory holding go.mod, found upward from the test's
// working directory.
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
