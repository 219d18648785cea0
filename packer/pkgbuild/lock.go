package pkgbuild

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/keel-os/keel/packer/image"

	"github.com/keel-os/keel/internal/atomicfile"
)

// LockFile is the file next to build.yml that pins the exact amd64 Debian
// packages (versions and sha256) a package is built from, so that a
// rebuild uses the same bytes even after apt's lists move on. It is
// written when missing, when build.yml's debian: or kernel: entries
// change, or on request (Package.UpdateLock); commit it with build.yml.
// Other architectures have their own (LockFileFor).
const LockFile = "debian.lock"

// LockFileFor is the lock file of arch: LockFile for amd64, which had it
// before Keel built for other architectures, else debian.<arch>.lock.
func LockFileFor(arch string) string {
	if arch == "" || arch == image.Architecture {
		return LockFile
	}
	return "debian." + arch + ".lock"
}

const lockHeader = `# The exact Debian packages this package is built from, written by keel.
# Commit it. Delete it, or run keel pkg build --update-lock, to move to
# apt's current versions.
`

// lockInput identifies what the lock was resolved from: the debian: and
// kernel: entries of build.yml, the kernel's with {arch} replaced (so an
// amd64 lock written before {arch} existed stays valid).
func (p *Package) lockInput() string {
	// Only what names Debian packages: the kernel's other fields (modules)
	// change no version, and adding one must not move every lock.
	type lockKernel struct{ Debian string }
	var kern *lockKernel
	if p.Spec.Kernel != nil {
		kern = &lockKernel{Debian: p.Spec.Kernel.Package(p.arch())}
	}
	b, _ := json.Marshal(struct {
		Debian []DebianPackage
		Kernel *lockKernel
	}{p.Spec.Debian, kern})
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// pinned returns the Debian packages and kernel package to build from:
// those of the lock file when it matches build.yml, else apt's current
// candidates, which are then written to the lock file.
func (p *Package) pinned(ctx context.Context) ([]debInfo, debInfo, error) {
	if len(p.Spec.Debian) == 0 && p.Spec.Kernel == nil {
		return nil, debInfo{}, nil
	}
	lockPath := filepath.Join(p.Dir, LockFileFor(p.arch()))
	input := p.lockInput()
	if !p.UpdateLock {
		debs, kern, in, err := readLock(lockPath)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, debInfo{}, err
		case in == input:
			return debs, kern, nil
		}
	}
	debs, err := resolveDebs(ctx, hostApt{arch: p.arch()}, p.arch(), p.Spec.Debian)
	if err != nil {
		return nil, debInfo{}, err
	}
	var kern debInfo
	if k := p.Spec.Kernel; k != nil {
		if kern, err = resolveKernel(ctx, k.Package(p.arch()), p.arch()); err != nil {
			return nil, debInfo{}, fmt.Errorf("kernel: %w", err)
		}
	}
	if err := writeLock(lockPath, input, debs, kern); err != nil {
		return nil, debInfo{}, err
	}
	return debs, kern, nil
}

// readLock parses a lock file: "input ...", then "deb ..." and "kernel ..."
// lines holding debInfo.String's form.
func readLock(path string) (debs []debInfo, kern debInfo, input string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, debInfo{}, "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kind, rest, _ := strings.Cut(line, " ")
		if kind == "input" {
			input = rest
			continue
		}
		d, perr := parseLocked(rest)
		if perr != nil || (kind != "deb" && kind != "kernel") {
			return nil, debInfo{}, "", fmt.Errorf("%s:%d: %q is not a lock line (delete the file to write it again)", path, n, line)
		}
		if kind == "kernel" {
			kern = d
		} else {
			debs = append(debs, d)
		}
	}
	return debs, kern, input, sc.Err()
}

// parseLocked reads "name=version arch sha256:HEX".
func parseLocked(s string) (debInfo, error) {
	f := strings.Fields(s)
	if len(f) != 3 || !strings.HasPrefix(f[2], "sha256:") {
		return debInfo{}, errors.New("want name=version arch sha256:HEX")
	}
	name, version, ok := strings.Cut(f[0], "=")
	sum := strings.TrimPrefix(f[2], "sha256:")
	if !ok || name == "" || version == "" || len(sum) != 64 {
		return debInfo{}, errors.New("want name=version arch sha256:HEX")
	}
	return debInfo{Package: name, Version: version, Arch: f[1], SHA256: sum}, nil
}

func writeLock(path, input string, debs []debInfo, kern debInfo) error {
	var b strings.Builder
	b.WriteString(lockHeader)
	fmt.Fprintf(&b, "input %s\n", input)
	for _, d := range debs {
		fmt.Fprintf(&b, "deb %s\n", d)
	}
	if kern.Package != "" {
		fmt.Fprintf(&b, "kernel %s\n", kern)
	}
	if err := atomicfile.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
