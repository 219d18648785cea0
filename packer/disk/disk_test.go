package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// readFAT opens partition part of the image at p and returns the file name.
func readFAT(t *testing.T, p string, part int, name string) []byte {
	t.Helper()
	d, err := diskfs.Open(p, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fs, err := d.GetFilesystem(part)
	if err != nil {
		t.Fatalf("partition %d: %v", part, err)
	}
	f, err := fs.OpenFile(name, os.O_RDONLY)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRawEFI(t *testing.T) {
	dir := t.TempDir()
	uki := writeFile(t, dir, "uki.efi", bytes.Repeat([]byte("UKI!"), 300000))
	tests := []struct {
		name       string
		arch       string
		size       int64
		wantSize   int64
		wantLoader string
		wantErr    bool
	}{
		{"default size", "", 0, 42 * mib, "/EFI/BOOT/BOOTX64.EFI", false},
		{"given size", "amd64", 100 * mib, 100 * mib, "/EFI/BOOT/BOOTX64.EFI", false},
		{"arm64", "arm64", 0, 42 * mib, "/EFI/BOOT/BOOTAA64.EFI", false},
		{"too small", "", 10 * mib, 0, "", true},
		{"unknown architecture", "riscv64", 0, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, tt.name+".img")
			err := RawEFI(p, uki, tt.arch, tt.size)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got no error for size %d, arch %q, want one", tt.size, tt.arch)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Stat(p)
			if fi.Size() != tt.wantSize {
				t.Errorf("got size %d, want %d", fi.Size(), tt.wantSize)
			}
			img, _ := os.ReadFile(p)
			// Protective MBR: one partition of type 0xEE.
			if img[446+4] != 0xee || img[510] != 0x55 || img[511] != 0xaa {
				t.Errorf("no protective MBR: type %#x, signature %#x %#x", img[446+4], img[510], img[511])
			}
			d, err := diskfs.Open(p, diskfs.WithOpenMode(diskfs.ReadOnly))
			if err != nil {
				t.Fatal(err)
			}
			table, err := d.GetPartitionTable()
			d.Close()
			if err != nil {
				t.Fatal(err)
			}
			g, ok := table.(*gpt.Table)
			if !ok || len(g.Partitions) == 0 {
				t.Fatalf("got table %T, want a GPT with a partition", table)
			}
			if g.Partitions[0].Type != gpt.EFISystemPartition {
				t.Errorf("got partition type %s, want the EFI system partition", g.Partitions[0].Type)
			}
			got := readFAT(t, p, 1, tt.wantLoader)
			want, _ := os.ReadFile(uki)
			if !bytes.Equal(got, want) {
				t.Errorf("%s on the ESP differs from the UKI (%d bytes, want %d)", tt.wantLoader, len(got), len(want))
			}
			again := filepath.Join(dir, tt.name+"-again.img")
			if err := RawEFI(again, uki, tt.arch, tt.size); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(again); !bytes.Equal(b, img) {
				t.Errorf("two builds from the same UKI differ")
			}
		})
	}
}

func TestRawBIOS(t *testing.T) {
	for _, tool := range []string{"syslinux", "mcopy"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("KEEL_E2E") == "1" {
				t.Fatalf("%s not found: run scripts/ensure-deps.sh", tool)
			}
			t.Skipf("%s not found: run scripts/ensure-deps.sh", tool)
		}
	}
	dir := t.TempDir()
	kernel := writeFile(t, dir, "kernel", bytes.Repeat([]byte("K"), 5000))
	initrd := writeFile(t, dir, "initrd", bytes.Repeat([]byte("I"), 7000))
	p := filepath.Join(dir, "bios.img")
	if err := RawBIOS(context.Background(), p, kernel, initrd, "console=ttyS0", 0); err != nil {
		t.Fatal(err)
	}
	img, _ := os.ReadFile(p)
	code, _ := os.ReadFile(MBRBin)
	if !bytes.Equal(img[:len(code)], code) {
		t.Errorf("the MBR does not start with syslinux's boot code")
	}
	d, err := diskfs.Open(p, diskfs.WithOpenMode(diskfs.ReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	table, err := d.GetPartitionTable()
	d.Close()
	if err != nil {
		t.Fatal(err)
	}
	m, ok := table.(*mbr.Table)
	if !ok || len(m.Partitions) == 0 {
		t.Fatalf("got table %T, want an MBR with a partition", table)
	}
	if p0 := m.Partitions[0]; !p0.Bootable || p0.Type != mbr.Fat32LBA || p0.Start != firstLBA {
		t.Errorf("got partition bootable=%v type=%#x start=%d, want bootable FAT32 at %d", p0.Bootable, p0.Type, p0.Start, firstLBA)
	}
	if got := readFAT(t, p, 1, "/syslinux.cfg"); !bytes.Contains(got, []byte("APPEND console=ttyS0")) {
		t.Errorf("syslinux.cfg lacks the command line:\n%s", got)
	}
	// The installer put its loader in, and patched the volume boot record.
	if got := readFAT(t, p, 1, "/ldlinux.sys"); len(got) == 0 {
		t.Errorf("no ldlinux.sys on the partition")
	}
	if vbr := img[firstLBA*sector:]; !bytes.Contains(vbr[:sector], []byte("SYSLINUX")) {
		t.Errorf("the partition's boot sector is not syslinux's")
	}
	if binary.LittleEndian.Uint32(img[440:]) == 0 {
		t.Errorf("disk signature is zero, want one derived from the contents")
	}
	again := filepath.Join(dir, "again.img")
	if err := RawBIOS(context.Background(), again, kernel, initrd, "console=ttyS0", 0); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(again); !bytes.Equal(b, img) {
		t.Errorf("two builds from the same files differ")
	}
}

// TestConvert checks that the converted images, after Keel rewrites their
// time stamps and ids, are still valid and hold the raw disk's bytes.
func TestConvert(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		if os.Getenv("KEEL_E2E") == "1" {
			t.Fatal("qemu-img not found: run scripts/ensure-deps.sh")
		}
		t.Skip("qemu-img not found: run scripts/ensure-deps.sh")
	}
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.raw")
	data := make([]byte, 8*mib)
	copy(data[3*mib:], "some data in the middle")
	os.WriteFile(raw, data, 0o644)
	for _, format := range []string{"qcow2", "vpc", "vmdk"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(dir, "out."+format)
			if err := Convert(context.Background(), raw, out, format); err != nil {
				t.Fatal(err)
			}
			if b, err := exec.Command("qemu-img", "compare", "-q", "-f", "raw", "-F", format, raw, out).CombinedOutput(); err != nil {
				t.Errorf("qemu-img compare: %v: %s", err, b)
			}
			if format == "vpc" {
				// qemu-img does not check the footer's checksum: do it here.
				img, _ := os.ReadFile(out)
				foot := slices.Clone(img[len(img)-512:])
				stored := binary.BigEndian.Uint32(foot[64:])
				binary.BigEndian.PutUint32(foot[64:], 0)
				var sum uint32
				for _, b := range foot {
					sum += uint32(b)
				}
				if stored != ^sum {
					t.Errorf("VHD footer checksum %#x, want %#x", stored, ^sum)
				}
				if binary.BigEndian.Uint32(foot[24:]) != 0 {
					t.Errorf("VHD footer time stamp %d, want 0", binary.BigEndian.Uint32(foot[24:]))
				}
			}
			if format != "vpc" {
				if b, err := exec.Command("qemu-img", "check", "-q", "-f", format, out).CombinedOutput(); err != nil {
					t.Errorf("qemu-img check: %v: %s", err, b)
				}
			}
		})
	}
	if err := Convert(context.Background(), raw, filepath.Join(dir, "x"), "vdi"); err == nil {
		t.Error("conversion to vdi: got no error, want one")
	}
}
