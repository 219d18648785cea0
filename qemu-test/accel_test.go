package qemutest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/pkgbuild"
	"github.com/keel-os/keel/packer/run"
)

// The accelerator is decided once per test binary, the way keel run
// decides it (packer/run's Decider): KVM only where a probe has seen it
// run a guest here. Deciding first, with the kernel package's kernel, lets
// the image formats (which carry no kernel file to probe with) boot under
// the same verdict as the kernel+initrd builds.
var (
	accelOnce sync.Once
	accel     run.Accel
	accelErr  error
)

// logAccel decides the accelerator (once) and names it in t's log.
func logAccel(t testing.TB) {
	t.Helper()
	accelOnce.Do(func() { accel, accelErr = decideAccel(repoRoot(t)) })
	if accelErr != nil {
		t.Fatalf("deciding between KVM and TCG: %v", accelErr)
	}
	t.Logf("accelerator: %s", accel)
}

func decideAccel(root string) (run.Accel, error) {
	dir, err := os.MkdirTemp("", "keel-accel-")
	if err != nil {
		return run.Accel{}, err
	}
	defer os.RemoveAll(dir)
	prefix := filepath.Join(dir, "probe")
	if err := kernelFile(root, run.HostArch(), prefix+"-kernel"); err != nil {
		return run.Accel{}, err
	}
	if err := os.WriteFile(prefix+"-initrd.img", nil, 0o644); err != nil {
		return run.Accel{}, err
	}
	return (&run.QEMU{Prefix: prefix}).Accelerator()
}

// kernelFile writes the kernel of pkgs/kernel, built for arch, to dst.
func kernelFile(root, arch, dst string) error {
	cache, err := image.Open(cacheDir(root))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	ref, err := pkgbuild.Build(ctx, filepath.Join(root, "pkgs/kernel"), pkgbuild.Options{Cache: cache, Arch: arch})
	if err != nil {
		return err
	}
	kimg, err := cache.GetArch(ref, arch)
	if err != nil {
		return err
	}
	if err := extractFile(kimg, "kernel", dst); err != nil {
		return fmt.Errorf("the %s kernel image: %w", arch, err)
	}
	return nil
}

// TestKVMProbeRealKernel runs the KVM probe's boot under TCG with the
// kernel Keel ships: the probe's verdict rests on that kernel ending in
// its root-mount panic and QEMU exiting cleanly, which a stand-in cannot
// prove.
func TestKVMProbeRealKernel(t *testing.T) {
	require(t)
	k := filepath.Join(t.TempDir(), "kernel")
	if err := kernelFile(repoRoot(t), run.HostArch(), k); err != nil {
		t.Fatal(err)
	}
	bin := map[string]string{"amd64": "qemu-system-x86_64", "arm64": "qemu-system-aarch64"}[run.HostArch()]
	v := run.RunProbe(context.Background(), run.Probe{Binary: bin, Kernel: k, CPU: "max", Accel: "tcg", Timeout: 3 * time.Minute})
	if !v.Works {
		t.Fatalf("probe boot of the shipped kernel under TCG: got %q, want it to run to its end", v.Reason)
	}
	t.Logf("probe boot under TCG: %s", v.Reason)
}
