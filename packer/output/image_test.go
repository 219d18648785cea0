package output

import (
	"bytes"
	"context"
	"debug/pe"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// needTools fails under KEEL_E2E=1, and skips otherwise, when the host
// packages the image formats use are missing.
func needTools(t *testing.T) {
	t.Helper()
	for _, f := range []string{"/usr/lib/ISOLINUX/isolinux.bin", "/usr/lib/syslinux/mbr/mbr.bin", "/usr/lib/systemd/boot/efi/linuxx64.efi.stub"} {
		if _, err := os.Stat(f); err != nil {
			skipOrFail(t, f+" missing: run scripts/ensure-deps.sh")
		}
	}
	for _, c := range []string{"syslinux", "mcopy", "qemu-img", "grub-mkimage"} {
		if _, err := exec.LookPath(c); err != nil {
			skipOrFail(t, c+" missing: run scripts/ensure-deps.sh")
		}
	}
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("KEEL_E2E") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// TestImagesReproducible writes every image format twice from the same
// kernel and initrd, a second apart, and compares the bytes: nothing from
// the clock, random numbers or qemu-img may differ. The writers do not
// look inside the kernel and initrd, so small stand-ins keep this fast;
// the boot tests in qemu-test use real ones.
func TestImagesReproducible(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	b := Boot{Kernel: filepath.Join(dir, "kernel"), Initrd: filepath.Join(dir, "initrd"), Cmdline: "console=ttyS0"}
	os.WriteFile(b.Kernel, bytes.Repeat([]byte("kernel"), 50000), 0o644)
	os.WriteFile(b.Initrd, bytes.Repeat([]byte("initrd"), 90000), 0o644)
	for _, format := range ImageFormats {
		t.Run(format, func(t *testing.T) {
			var images [2][]byte
			for i := range images {
				work := t.TempDir()
				dst := filepath.Join(work, "image")
				if err := WriteImage(context.Background(), format, dst, work, b, 0); err != nil {
					t.Fatal(err)
				}
				images[i], _ = os.ReadFile(dst)
				if i == 0 {
					time.Sleep(1100 * time.Millisecond)
				}
			}
			if len(images[0]) == 0 {
				t.Fatal("empty image")
			}
			if !bytes.Equal(images[0], images[1]) {
				at := 0
				for at < min(len(images[0]), len(images[1])) && images[0][at] == images[1][at] {
					at++
				}
				t.Errorf("two writes differ (sizes %d and %d), first at byte %d", len(images[0]), len(images[1]), at)
			}
		})
	}
}

// TestImageShapes checks each format's container: what qemu-img says it
// is, and the files' magic numbers.
func TestImageShapes(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	b := Boot{Kernel: filepath.Join(dir, "kernel"), Initrd: filepath.Join(dir, "initrd"), Cmdline: "console=ttyS0"}
	os.WriteFile(b.Kernel, []byte("kernel"), 0o644)
	os.WriteFile(b.Initrd, []byte("initrd"), 0o644)
	tests := []struct {
		format string
		size   int64
		check  func(t *testing.T, img []byte)
	}{
		{FormatUKI, 0, func(t *testing.T, img []byte) {
			f, err := pe.NewFile(bytes.NewReader(img))
			if err != nil {
				t.Fatalf("not a PE file: %v", err)
			}
			if f.Section(".linux") == nil || f.Section(".initrd") == nil || f.Section(".cmdline") == nil || f.Section(".osrel") == nil {
				t.Errorf("UKI lacks a section: %v", f.Sections)
			}
		}},
		{FormatQCOW2EFI, 0, magic("QFI\xfb", 0)},
		{FormatQCOW2BIOS, 0, magic("QFI\xfb", 0)},
		{FormatVMDK, 0, magic("KDMV", 0)},
		{FormatVHD, 64 << 20, func(t *testing.T, img []byte) {
			// A fixed VHD: the disk, then a 512-byte footer.
			if got, want := len(img), 64<<20+512; got != want {
				t.Errorf("got %d bytes, want %d", got, want)
			}
			magic("conectix", len(img)-512)(t, img)
		}},
		{FormatGCP, 0, magic("\x1f\x8b", 0)},
		{FormatAWS, 64 << 20, func(t *testing.T, img []byte) {
			if len(img) != 64<<20 {
				t.Errorf("got %d bytes, want %d", len(img), 64<<20)
			}
			magic("\x55\xaa", 510)(t, img)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			work := t.TempDir()
			dst := filepath.Join(work, "image")
			if err := WriteImage(context.Background(), tt.format, dst, work, b, tt.size); err != nil {
				t.Fatal(err)
			}
			img, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, img)
		})
	}
}

func magic(m string, at int) func(*testing.T, []byte) {
	return func(t *testing.T, img []byte) {
		t.Helper()
		if len(img) < at+len(m) || string(img[at:at+len(m)]) != m {
			t.Errorf("got %q at %d, want %q", img[at:min(len(img), at+len(m))], at, m)
		}
	}
}

// TestDynamicVHD: dynamic-vhd is raw-bios, sparse: a footer copy, the
// dynamic header and a footer around only the blocks that hold data, which
// qemu-img reads back as the same disk.
func TestDynamicVHD(t *testing.T) {
	needTools(t)
	dir := t.TempDir()
	b := Boot{Kernel: filepath.Join(dir, "kernel"), Initrd: filepath.Join(dir, "initrd"), Cmdline: "console=ttyS0"}
	os.WriteFile(b.Kernel, []byte("kernel"), 0o644)
	os.WriteFile(b.Initrd, []byte("initrd"), 0o644)
	const size = 256 << 20
	raw, vhd := filepath.Join(dir, "disk.img"), filepath.Join(dir, "disk.vhd")
	if err := WriteImage(context.Background(), FormatRawBIOS, raw, t.TempDir(), b, size); err != nil {
		t.Fatal(err)
	}
	if err := WriteImage(context.Background(), FormatDynamicVHD, vhd, t.TempDir(), b, size); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(vhd)
	if err != nil {
		t.Fatal(err)
	}
	if len(img) >= size/4 {
		t.Errorf("dynamic VHD of %d bytes for a %d-byte disk: want only the blocks that hold data", len(img), size)
	}
	magic("conectix", 0)(t, img)
	magic("cxsparse", 512)(t, img)
	magic("conectix", len(img)-512)(t, img)
	if got := binary.BigEndian.Uint32(img[60:]); got != 3 {
		t.Errorf("disk type %d in the footer, want 3 (dynamic)", got)
	}
	if got := binary.BigEndian.Uint64(img[48:]); got != size {
		t.Errorf("current size %d in the footer, want %d", got, size)
	}
	if !bytes.Equal(img[:512], img[len(img)-512:]) {
		t.Error("the footer's copy at the start differs from the footer")
	}
	info, err := exec.Command("qemu-img", "info", "--output=json", vhd).Output()
	if err != nil || !bytes.Contains(info, []byte(`"format": "vpc"`)) || !bytes.Contains(info, []byte(`"virtual-size": 268435456`)) {
		t.Errorf("qemu-img info: %v\n%s\nwant format vpc, virtual size %d", err, info, size)
	}
	if out, err := exec.Command("qemu-img", "compare", "-f", "vpc", vhd, "-F", "raw", raw).CombinedOutput(); err != nil {
		t.Errorf("qemu-img compare with raw-bios: %v: %s", err, out)
	}
}
