package blockdev

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeSys builds a sysfs tree where partitions live inside their disk's
// directory and /sys/class/block holds symlinks, as the kernel lays it out.
func fakeSys(t *testing.T, devs map[string]string) string {
	t.Helper()
	root := t.TempDir()
	class := filepath.Join(root, "class", "block")
	if err := os.MkdirAll(class, 0o755); err != nil {
		t.Fatal(err)
	}
	for path, uevent := range devs {
		dir := filepath.Join(root, "devices", path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range map[string]string{"uevent": uevent, "size": "2048\n", "ro": "0\n"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Symlink(dir, filepath.Join(class, filepath.Base(path))); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestList(t *testing.T) {
	sys := fakeSys(t, map[string]string{
		"vda":           "MAJOR=254\nDEVNAME=vda\nDEVTYPE=disk\n",
		"vda/vda1":      "DEVNAME=vda1\nDEVTYPE=partition\nPARTN=1\n",
		"vda/vda2":      "DEVNAME=vda2\nDEVTYPE=partition\nPARTN=2\n",
		"nvme0n1":       "DEVNAME=nvme0n1\nDEVTYPE=disk\n",
		"nvme0n1/p1dir": "DEVNAME=nvme0n1p1\nDEVTYPE=partition\nPARTN=1\n",
		"loop0":         "DEVNAME=loop0\nDEVTYPE=disk\n",
	})
	if err := os.WriteFile(filepath.Join(sys, "devices", "loop0", "ro"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	devs, err := List(sys, "/dev")
	if err != nil {
		t.Fatal(err)
	}
	want := []Device{
		{Name: "loop0", Path: "/dev/loop0", Disk: true, ReadOnly: true, Size: 1 << 20},
		{Name: "nvme0n1", Path: "/dev/nvme0n1", Disk: true, Size: 1 << 20},
		{Name: "nvme0n1p1", Path: "/dev/nvme0n1p1", Parent: "nvme0n1", PartN: 1, Size: 1 << 20},
		{Name: "vda", Path: "/dev/vda", Disk: true, Size: 1 << 20},
		{Name: "vda1", Path: "/dev/vda1", Parent: "vda", PartN: 1, Size: 1 << 20},
		{Name: "vda2", Path: "/dev/vda2", Parent: "vda", PartN: 2, Size: 1 << 20},
	}
	if !reflect.DeepEqual(devs, want) {
		t.Errorf("List:\n got %+v\nwant %+v", devs, want)
	}
	if got := Partitions(devs, "vda"); len(got) != 2 || got[0].Name != "vda1" || got[1].Name != "vda2" {
		t.Errorf("Partitions(vda) = %+v, want vda1, vda2", got)
	}
	if !devs[0].Virtual() || devs[3].Virtual() {
		t.Errorf("Virtual: loop0 %v vda %v, want true false", devs[0].Virtual(), devs[3].Virtual())
	}
	if _, err := List(t.TempDir(), "/dev"); err == nil {
		t.Error("List without class/block: got no error")
	}
}

func TestPartitionPath(t *testing.T) {
	for disk, want := range map[string]string{"vda": "vda1", "sdb": "sdb1", "nvme0n1": "nvme0n1p1", "mmcblk0": "mmcblk0p1", "": "1"} {
		if got := PartitionPath(disk, 1); got != want {
			t.Errorf("PartitionPath(%s, 1) = %s, want %s", disk, got, want)
		}
	}
}

func at(off int, magic string) []byte {
	b := make([]byte, 1<<20)
	copy(b[off:], magic)
	return b
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"blank", make([]byte, 2<<20), ""},
		{"short blank", make([]byte, 4096), ""},
		{"mbr", at(510, "\x55\xaa"), "an MBR partition table or a boot sector"},
		{"gpt beats its protective mbr", append(at(510, "\x55\xaa")[:512], at(0, "EFI PART")...), "a GPT partition table"},
		{"iso", at(0x8001, "CD001"), "an ISO 9660 filesystem"},
		{"swap", at(4086, "SWAPSPACE2"), "a swap area"},
		{"btrfs", at(0x10040, "_BHRfS_M"), "a btrfs filesystem"},
		{"xfs", at(0, "XFSB"), "an XFS filesystem"},
		{"luks", at(0, "LUKS\xba\xbe"), "a LUKS encrypted volume"},
		{"ext2", at(1024+0x38, "\x53\xef"), "an ext2 filesystem"},
		{"other data", at(700000, "x"), "data"},
	}
	for _, tc := range tests {
		got, err := Describe(bytes.NewReader(tc.data))
		if err != nil || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// TestReadExtMke2fs checks the superblock reader against filesystems made
// by the host's mke2fs.
func TestReadExtMke2fs(t *testing.T) {
	mkfs, err := exec.LookPath("mke2fs")
	if err != nil {
		t.Skip("needs mke2fs (apt-get install e2fsprogs)")
	}
	const uuid = "0b5e8c6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	tests := []struct {
		args []string
		want Ext
	}{
		{[]string{"-t", "ext4", "-L", "keel-data"}, Ext{"ext4", "keel-data", uuid}},
		{[]string{"-t", "ext4", "-L", "sixteen-chars-xx"}, Ext{"ext4", "sixteen-chars-xx", uuid}},
		{[]string{"-t", "ext3"}, Ext{"ext3", "", uuid}},
		{[]string{"-t", "ext2", "-L", "old"}, Ext{"ext2", "old", uuid}},
	}
	for _, tc := range tests {
		img := filepath.Join(t.TempDir(), "fs.img")
		if err := os.WriteFile(img, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(img, 16<<20); err != nil {
			t.Fatal(err)
		}
		args := append(append([]string{"-q", "-F", "-U", uuid}, tc.args...), img)
		if out, err := exec.Command(mkfs, args...).CombinedOutput(); err != nil {
			t.Fatalf("mke2fs %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		f, err := os.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ReadExt(f)
		f.Close()
		if err != nil || got != tc.want {
			t.Errorf("mke2fs %s: got %+v, %v; want %+v", strings.Join(tc.args, " "), got, err, tc.want)
		}
	}
	if _, err := ReadExt(bytes.NewReader(make([]byte, 8192))); !errors.Is(err, ErrNotExt) {
		t.Errorf("zeros: got %v, want ErrNotExt", err)
	}
	if _, err := ReadExt(bytes.NewReader(make([]byte, 100))); !errors.Is(err, ErrNotExt) {
		t.Errorf("a 100-byte device: got %v, want ErrNotExt", err)
	}
}
