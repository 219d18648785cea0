package qemutest

import (
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/build"
	"github.com/keel-os/keel/packer/output"
	"github.com/keel-os/keel/packer/run"
)

// requireARM64 skips (or fails under KEEL_E2E=1) when arm64 systems cannot
// be built and booted here. The arm64 boot is emulated instruction by
// instruction, several times slower than the amd64 one, so it runs only when
// KEEL_ARM64=1 (make test-arm64).
func requireARM64(t *testing.T) {
	t.Helper()
	require(t)
	if os.Getenv("KEEL_ARM64") != "1" {
		t.Skip("arm64 boots are slow under emulation: set KEEL_ARM64=1 (make test-arm64)")
	}
	for _, tool := range []string{"qemu-system-aarch64", "aarch64-linux-gnu-gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/ensure-deps.sh (qemu-system-arm, gcc-aarch64-linux-gnu, libseccomp-dev:arm64)", tool)
		}
	}
}

// TestARM64Minimal builds examples/minimal.yml plus the check service for
// arm64 on this machine (packages cross-built, Debian's arm64 kernel and
// busybox) and boots it on QEMU's emulated virt board through the same
// checks as TestMinimalBoots: onboot, containerd, services, svcctl list and
// logs, a clean power-off.
func TestARM64Minimal(t *testing.T) {
	requireARM64(t)
	_, prefix := buildWith(t, build.Options{Arch: "arm64"}, "examples/minimal.yml", "qemu-test/testdata/check.yml")
	if b, err := os.ReadFile(prefix + "-kernel"); err != nil || len(b) < 64 || string(b[56:60]) != "ARM\x64" {
		t.Fatalf("%s-kernel is not an arm64 Image (%v)", prefix, err)
	}
	q := &run.QEMU{Prefix: prefix, Mem: 1024}
	if bin, err := q.Program(); err != nil || bin != "qemu-system-aarch64" {
		t.Fatalf("keel run would boot the arm64 build with %q (%v), want qemu-system-aarch64", bin, err)
	}
	checkMinimalBoot(t, q, 8*time.Minute)
}

// TestARM64Supervision runs TestSvcdSupervision's checks on an arm64
// build: a crashing service restarted, a dependency gated on a health
// check, svcctl's list, status exit codes, boot and dmesg, all from inside
// the emulated arm64 system.
func TestARM64Supervision(t *testing.T) {
	requireARM64(t)
	_, prefix := buildWith(t, build.Options{Arch: "arm64"}, "examples/minimal.yml", "qemu-test/testdata/svcd-check.yml")
	checkSupervision(t, &run.QEMU{Prefix: prefix, Mem: 1024}, 12*time.Minute)
}

// TestARM64RawEFI builds the same system as an arm64 raw-efi disk (a GPT
// disk whose ESP holds a UKI made with systemd's arm64 stub as
// BOOTAA64.EFI) and boots it under AAVMF, the arm64 UEFI firmware, through
// the same checks. The console comes from testdata/arm64-console.yml: a
// disk carries its command line inside, so keel run cannot add the board's.
func TestARM64RawEFI(t *testing.T) {
	requireARM64(t)
	res, _ := buildWith(t, build.Options{Arch: "arm64", Format: output.FormatRawEFI},
		"examples/minimal.yml", "qemu-test/testdata/check.yml", "qemu-test/testdata/arm64-console.yml")
	// A disk has no kernel header to sniff: --arch says what it is.
	q := &run.QEMU{Image: res.Output, Arch: "arm64", Mem: 1024, StateDir: t.TempDir()}
	args, err := q.Args()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(args, "if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd") {
		t.Fatalf("keel run would boot the arm64 EFI disk with %q, want AAVMF's pflash", args)
	}
	checkMinimalBoot(t, q, 8*time.Minute)
}
