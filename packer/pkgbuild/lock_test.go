package pkgbuild

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLockPinsDebianPackages: a lock file that matches build.yml is the
// whole truth about the Debian packages (apt is not asked: the package
// named here does not exist), and its content goes into the tag.
func TestLockPinsDebianPackages(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "build.yml"), []byte("image: x\ndebian: [keel-no-such-package]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func() *Package {
		p, err := Load(dir)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	sum := strings.Repeat("ab", 32)
	lock := func(version string) {
		p := load()
		d := debInfo{Package: "keel-no-such-package", Version: version, Arch: "amd64", SHA256: sum}
		if err := writeLock(filepath.Join(dir, LockFile), p.lockInput(), []debInfo{d}, debInfo{}); err != nil {
			t.Fatal(err)
		}
	}
	lock("1.0-1")
	tag1, err := load().Tag()
	if err != nil {
		t.Fatalf("Tag with a matching lock: %v", err)
	}
	if again, _ := load().Tag(); again != tag1 {
		t.Errorf("tag changed between two reads of the same lock: %s, %s", tag1, again)
	}
	lock("1.0-2")
	if tag2, err := load().Tag(); err != nil || tag2 == tag1 {
		t.Errorf("a new locked version: tag %s (err %v), want a tag other than %s", tag2, err, tag1)
	}
	debs, _, _, err := readLock(filepath.Join(dir, LockFile))
	if err != nil || len(debs) != 1 || debs[0].Version != "1.0-2" || debs[0].SHA256 != sum {
		t.Errorf("readLock = %+v, %v; want the locked package back", debs, err)
	}

	if _, err := exec.LookPath("apt-cache"); err != nil {
		t.Skip("no apt-cache: the re-resolving half needs Debian's apt")
	}
	// UpdateLock, and a build.yml that no longer matches the lock, both go
	// back to apt, which knows no such package.
	p := load()
	p.UpdateLock = true
	if _, err := p.Tag(); err == nil || !strings.Contains(err.Error(), "keel-no-such-package") {
		t.Errorf("UpdateLock: got %v, want apt's error about the package", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "build.yml"), []byte("image: x\ndebian: [keel-no-such-package, other]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := load().Tag(); err == nil {
		t.Error("stale lock: got nil error, want apt's")
	}
}

func TestReadLockRejectsGarbage(t *testing.T) {
	p := filepath.Join(t.TempDir(), LockFile)
	os.WriteFile(p, []byte("input sha256:00\ndeb busybox\n"), 0o644)
	if _, _, _, err := readLock(p); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("got %v, want an error naming line 2", err)
	}
}

// Every committed lock file of pkgs/ matches its build.yml: a change to
// how the lock input is computed (a new build.yml field, say) would
// otherwise re-resolve every lock, moving packages to apt's current
// versions without anyone asking.
func TestRepoLocksMatchBuildYML(t *testing.T) {
	locks, err := filepath.Glob("../../pkgs/*/debian*.lock")
	if err != nil || len(locks) == 0 {
		t.Fatalf("no lock files under pkgs/: %v", err)
	}
	// Groups of packages, such as pkgs/kubernetes/*, one level down.
	nested, err := filepath.Glob("../../pkgs/*/*/debian*.lock")
	if err != nil {
		t.Fatal(err)
	}
	locks = append(locks, nested...)
	for _, lock := range locks {
		p, err := Load(filepath.Dir(lock))
		if err != nil {
			t.Fatal(err)
		}
		p.Arch = "amd64"
		if arch, ok := strings.CutSuffix(strings.TrimPrefix(filepath.Base(lock), "debian."), ".lock"); ok && arch != "lock" && arch != "" {
			p.Arch = arch
		}
		_, _, in, err := readLock(lock)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.lockInput(); got != in {
			t.Errorf("%s: build.yml's lock input is %s, the lock's %s", lock, got, in)
		}
	}
}
