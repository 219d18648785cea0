package qemutest

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-os/keel/packer/build"
	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/run"
)

// The boot benchmarks (make bench-arch) boot each architecture's kernel
// b.N times under QEMU: once with only floorinit as PID 1 (the bare-kernel
// floor) and once as examples/minimal.yml with the check service. Wall
// times run from QEMU's start; under TCG they drift with the machine's
// load, so compare an architecture's boot with its own floor of the same
// run.

var benchArches = []string{"amd64", "arm64"}

// requireBootBench skips a boot benchmark that cannot run here.
func requireBootBench(b *testing.B, arch string) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root (apt-get download of the kernel into the cache)")
	}
	m := map[string]string{"amd64": "qemu-system-x86_64", "arm64": "qemu-system-aarch64"}[arch]
	if _, err := exec.LookPath(m); err != nil {
		b.Skipf("%s not found: run scripts/ensure-deps.sh", m)
	}
	logAccel(b)
}

// floorBuild writes PREFIX-kernel (the arch kernel of pkgs/kernel) and
// PREFIX-initrd.img holding only floorinit, built for arch.
func floorBuild(b *testing.B, arch string) string {
	b.Helper()
	root := repoRoot(b)
	dir := b.TempDir()
	prefix := filepath.Join(dir, "floor")
	if err := kernelFile(root, arch, prefix+"-kernel"); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "init")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./floorinit")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("building floorinit for %s: %v\n%s", arch, err, out)
	}
	if err := writeFloorInitrd(prefix+"-initrd.img", bin); err != nil {
		b.Fatal(err)
	}
	return prefix
}

// extractFile copies the image's file name (a path without the leading
// slash) to dst. image.ReadFiles caps file sizes below a kernel's.
func extractFile(img v1.Image, name, dst string) error {
	rc := image.Flatten(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			return fmt.Errorf("finding /%s: %w", name, err)
		}
		if strings.TrimPrefix(path.Clean("/"+h.Name), "/") != name || h.Typeflag != tar.TypeReg {
			continue
		}
		f, err := os.Create(dst)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
}

// writeFloorInitrd writes an uncompressed newc archive: /init, and the
// mount points floorinit uses.
func writeFloorInitrd(path, initBin string) error {
	body, err := os.ReadFile(initBin)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := cpio.NewWriter(f)
	for _, d := range []string{"dev", "proc"} {
		if err := w.WriteHeader(&cpio.Header{Name: d, Mode: cpio.TypeDir | 0o755}); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.WriteHeader(&cpio.Header{Name: "init", Mode: cpio.TypeReg | 0o755, Size: int64(len(body))}); err != nil {
		f.Close()
		return err
	}
	if _, err := w.Write(body); err != nil {
		f.Close()
		return err
	}
	if err := w.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// bootTimes boots q b.N times and reports the median wall time from QEMU's
// start to a console line matching ready and to QEMU's clean exit.
func bootTimes(b *testing.B, q *run.QEMU, ready *regexp.Regexp, timeout time.Duration) {
	b.Helper()
	var toReady, toExit []float64
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		c, err := Boot(ctx, q)
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		_, at, err := c.Expect(ctx, 0, ready)
		if err != nil {
			c.Kill()
			cancel()
			b.Fatalf("boot %d: %v\n%s", i+1, err, c.Tail(40))
		}
		if err := c.Wait(ctx); err != nil {
			c.Kill()
			cancel()
			b.Fatalf("boot %d: qemu did not exit cleanly: %v\n%s", i+1, err, c.Tail(40))
		}
		exit := c.Elapsed()
		cancel()
		toReady, toExit = append(toReady, at.Seconds()), append(toExit, exit.Seconds())
		b.Logf("boot %d: ready %.2fs, exit %.2fs", i+1, at.Seconds(), exit.Seconds())
	}
	b.ReportMetric(median(toReady), "s-ready")
	b.ReportMetric(median(toExit), "s-exit")
	b.ReportMetric(0, "ns/op") // the loop's own time is the boots' sum: meaningless
}

// BenchmarkBootFloor is the bare-kernel floor: QEMU start to floorinit's
// line (s-ready) and to QEMU's exit after its power-off (s-exit).
func BenchmarkBootFloor(b *testing.B) {
	for _, arch := range benchArches {
		b.Run(arch, func(b *testing.B) {
			requireBootBench(b, arch)
			prefix := floorBuild(b, arch)
			cmdline := "console=ttyS0 quiet"
			if arch == "arm64" {
				cmdline = "console=ttyAMA0 quiet"
			}
			b.ResetTimer()
			bootTimes(b, &run.QEMU{Prefix: prefix, Mem: 1024, Arch: arch, ExtraCmdline: cmdline},
				regexp.MustCompile(`KEEL-FLOOR-PID1`), 5*time.Minute)
		})
	}
}

// BenchmarkBootMinimal boots examples/minimal.yml with the check service:
// QEMU start to the check's pass once every service runs (s-ready) and to
// QEMU's exit after the clean power-off (s-exit).
func BenchmarkBootMinimal(b *testing.B) {
	for _, arch := range benchArches {
		b.Run(arch, func(b *testing.B) {
			requireBootBench(b, arch)
			_, prefix := buildWith(b, build.Options{Arch: arch}, "examples/minimal.yml", "qemu-test/testdata/check.yml")
			b.ResetTimer()
			bootTimes(b, &run.QEMU{Prefix: prefix, Mem: 1024, Arch: arch},
				regexp.MustCompile(`KEEL-CHECK-OK`), 8*time.Minute)
		})
	}
}
