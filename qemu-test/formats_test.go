package qemutest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/build"
	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/output"
	"github.com/keel-os/keel/packer/run"
	"github.com/keel-os/keel/packer/uki"
)

// requireFormatTools fails (under KEEL_E2E=1) or skips when a host package
// the image formats need is missing.
func requireFormatTools(t *testing.T) {
	t.Helper()
	files := map[string]string{
		"/usr/lib/ISOLINUX/isolinux.bin":              "isolinux",
		"/usr/lib/syslinux/modules/bios/ldlinux.c32":  "syslinux-common",
		"/usr/lib/syslinux/mbr/mbr.bin":               "syslinux-common",
		"/usr/lib/systemd/boot/efi/linuxx64.efi.stub": "systemd-boot-efi",
		"/usr/lib/grub/x86_64-efi/linux.mod":          "grub-efi-amd64-bin",
		run.OVMFCode:                                  "ovmf",
	}
	var missing []string
	for f, pkg := range files {
		if _, err := os.Stat(f); err != nil {
			missing = append(missing, pkg)
		}
	}
	for cmd, pkg := range map[string]string{"syslinux": "syslinux", "mcopy": "mtools", "qemu-img": "qemu-utils", "grub-mkimage": "grub-efi-amd64-bin"} {
		if _, err := exec.LookPath(cmd); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) == 0 {
		return
	}
	why := "missing Debian packages " + strings.Join(missing, " ") + ": run scripts/ensure-deps.sh"
	if os.Getenv("KEEL_E2E") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// buildFormat builds examples/minimal.yml plus the check service in format
// into dir, with the same code path as `keel build -format`; a non-nil
// signer signs its UKI for Secure Boot.
func buildFormat(t *testing.T, dir, format string, signer *uki.Signer) string {
	t.Helper()
	root := repoRoot(t)
	cache, err := image.Open(cacheDir(root))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	var log strings.Builder
	res, err := build.Run(ctx, build.Options{
		Files:  []string{filepath.Join(root, "examples/minimal.yml"), filepath.Join(root, "qemu-test/testdata/check.yml")},
		Format: format, Dir: dir, Name: "sys", Cache: cache, Signer: signer,
		DebCache: filepath.Join(cacheDir(root), "debs"), Log: &log,
	})
	if err != nil {
		t.Fatalf("building %s: %v\n%s", format, err, log.String())
	}
	out := res.Output
	if res.Root != "" {
		// Several files: the root image stands for them, the prefix is
		// what boots.
		out = res.Root
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built %s in %s: %s, %d MiB", format, time.Since(start).Round(time.Millisecond), filepath.Base(out), fi.Size()>>20)
	if res.Root != "" {
		return strings.TrimSuffix(res.Kernel, "-kernel")
	}
	return out
}

// TestFormatsBoot boots one image of each format family to the check
// service and a clean power-off: ISO and MBR disk under SeaBIOS, the GPT
// disk with its UKI under OVMF, the ISO whose GRUB boots the kernel and
// initrd under OVMF (iso-efi-initrd), qcow2 (which boots like raw) and
// the dynamic VHD (QEMU's vpc driver reads its block table). The GPT
// disk's UKI is signed and OVMF enforces Secure Boot with the signing key
// enrolled, so the same boot proves the signature; an unsigned UKI must
// then be refused by the firmware.
func TestFormatsBoot(t *testing.T) {
	require(t)
	requireFormatTools(t)
	signer := testKeysSigner(t)
	for _, format := range []string{output.FormatISOBIOS, output.FormatISOEFIInitrd, output.FormatRawBIOS, output.FormatRawEFI, output.FormatQCOW2BIOS, output.FormatDynamicVHD} {
		t.Run(format, func(t *testing.T) {
			q := &run.QEMU{Mem: 1024, StateDir: t.TempDir()}
			var s *uki.Signer
			if format == output.FormatRawEFI {
				s, q.SecureBoot = signer, true
			}
			q.Image = buildFormat(t, t.TempDir(), format, s)
			bootToPowerOff(t, q)
		})
	}
	t.Run("unsigned UKI refused under Secure Boot", func(t *testing.T) {
		img := buildFormat(t, t.TempDir(), output.FormatUKI, nil)
		ctx, c := bootGuest(t, 3*time.Minute, run.QEMU{Image: img, StateDir: t.TempDir(), SecureBoot: true})
		if _, _, err := c.Expect(ctx, 0, regexp.MustCompile(`Access Denied`)); err != nil {
			t.Fatalf("OVMF did not refuse the unsigned UKI: %v\nlast console lines:\n%s", err, c.Tail(30))
		}
	})
}

// TestFormatsRootOnDisk boots the formats whose root is an image on a
// disk beside the kernel and a small initrd (kernel+squashfs, kernel+iso,
// kernel+erofs): `keel run
// qemu PREFIX` attaches the image after a --disk, so the boot also proves
// that root= follows the disk's name, and init mounts it as the root.
func TestFormatsRootOnDisk(t *testing.T) {
	require(t)
	for _, c := range []struct{ format, fstype string }{
		{build.FormatKernelSquashfs, "squashfs"},
		{build.FormatKernelISO, "iso9660"},
		{build.FormatKernelErofs, "erofs"},
	} {
		t.Run(c.format, func(t *testing.T) {
			state := t.TempDir()
			q := &run.QEMU{Mem: 1024, StateDir: state, Prefix: buildFormat(t, t.TempDir(), c.format, nil)}
			q.Disks = []run.Disk{{Path: filepath.Join(state, "first.img"), Size: "16M", Format: "raw"}}
			ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
			defer cancel()
			if err := q.Disks[0].Ensure(ctx); err != nil {
				t.Fatal(err)
			}
			con, err := Boot(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			defer con.Kill()
			expectSteps(ctx, t, con, []step{
				{"root mounted from the second disk", regexp.MustCompile(`root: ` + c.fstype + ` on /dev/vdb read-only`)},
				{"check passed", regexp.MustCompile(`KEEL-CHECK-OK`)},
				{"svcd shut down", regexp.MustCompile(`svcd: shutdown complete`)},
			})
			if err := con.Wait(ctx); err != nil {
				t.Fatalf("qemu: %v, want exit 0 after the power-off", err)
			}
		})
	}
}

// testKeysSigner is the signer for Debian's test key store that
// run.QEMU{SecureBoot: true} enrolls by default: the "snakeoil" key the
// ovmf package ships, decrypted with its published password.
func testKeysSigner(t *testing.T) *uki.Signer {
	t.Helper()
	const key, cert = "/usr/share/ovmf/PkKek-1-snakeoil.key", "/usr/share/ovmf/PkKek-1-snakeoil.pem"
	plain := filepath.Join(t.TempDir(), "snakeoil.key")
	out, err := exec.Command("openssl", "pkcs8", "-in", key, "-passin", "pass:snakeoil", "-out", plain).CombinedOutput()
	if err != nil {
		t.Fatalf("decrypting Debian's test Secure Boot key (packages ovmf, openssl): %v\n%s", err, out)
	}
	s, err := uki.LoadSigner(cert, plain)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// bootToPowerOff boots q and follows the console to the check service's
// marker and QEMU exiting 0 after the guest's power-off.
func bootToPowerOff(t *testing.T, q *run.QEMU) {
	t.Helper()
	ctx, c := bootGuest(t, 6*time.Minute, *q)
	expectSteps(ctx, t, c, []step{
		{"check passed", regexp.MustCompile(`KEEL-CHECK-OK`)},
		{"svcd shut down", regexp.MustCompile(`svcd: shutdown complete`)},
	})
	noMissingDrivers(ctx, t, c)
}
