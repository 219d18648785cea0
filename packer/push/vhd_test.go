package push

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// vhdFooter is a fixed VHD's footer for a disk of size bytes, as qemu-img
// writes it (the fields Azure and keel read).
func vhdFooter(size int64, diskType uint32) []byte {
	f := make([]byte, vhdFooterSize)
	copy(f, "conectix")
	binary.BigEndian.PutUint32(f[8:], 2)
	binary.BigEndian.PutUint32(f[12:], 0x10000)
	binary.BigEndian.PutUint64(f[16:], ^uint64(0))
	binary.BigEndian.PutUint64(f[40:], uint64(size))
	binary.BigEndian.PutUint64(f[48:], uint64(size))
	binary.BigEndian.PutUint32(f[60:], diskType)
	var sum uint32
	for _, b := range f {
		sum += uint32(b)
	}
	binary.BigEndian.PutUint32(f[64:], ^sum)
	return f
}

func writeVHD(t *testing.T, name string, disk []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, append(disk, vhdFooter(int64(len(disk)), vhdFixed)...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckVHDFooter(t *testing.T) {
	good := vhdFooter(4*mib, vhdFixed)
	badSum := vhdFooter(4*mib, vhdFixed)
	badSum[70] ^= 1
	tests := []struct {
		name string
		foot []byte
		file int64
		want string
	}{
		{"fixed, whole MiB", good, 4*mib + 512, ""},
		{"no footer", make([]byte, 512), 4*mib + 512, "not a VHD"},
		{"damaged", badSum, 4*mib + 512, "checksum"},
		{"dynamic", vhdFooter(4*mib, vhdDynamic), 4*mib + 512, "fixed VHD only"},
		{"odd size", vhdFooter(4*mib+512, vhdFixed), 4*mib + 1024, "not a whole number of MiB"},
		{"truncated", good, 3*mib + 512, "truncated or padded"},
	}
	for _, tt := range tests {
		err := checkVHDFooter(tt.foot, tt.file)
		if tt.want == "" {
			if err != nil {
				t.Errorf("%s: got %v, want no error", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

func TestFixedVHD(t *testing.T) {
	p := writeVHD(t, "sys.vhd", testDisk(t, UEFI, 2*mib))
	size, mode, err := fixedVHD(p)
	if err != nil || size != 2*mib+512 || mode != UEFI {
		t.Errorf("got %d, %q, %v; want %d, uefi", size, mode, err, 2*mib+512)
	}
	raw := writeRaw(t, testDisk(t, BIOS, 2*mib))
	if _, _, err := fixedVHD(raw); err == nil || !strings.Contains(err.Error(), "not a VHD") {
		t.Errorf("raw disk: got %v, want it refused as not a VHD", err)
	}
}

// TestFixedVHDOfQemuImg checks the footer qemu-img writes for Keel's vhd
// format (subformat=fixed, force_size) passes, and that without
// force_size (a size rounded to a CHS geometry) the file is refused.
func TestFixedVHDOfQemuImg(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skip("needs qemu-img (Debian's qemu-utils)")
	}
	raw := writeRaw(t, testDisk(t, BIOS, 3*mib))
	for _, tt := range []struct {
		opts, want string
	}{
		{"subformat=fixed,force_size=on", ""},
		{"subformat=dynamic,force_size=on", "fixed VHD only"},
	} {
		out := filepath.Join(t.TempDir(), "sys.vhd")
		if b, err := exec.Command("qemu-img", "convert", "-q", "-f", "raw", "-O", "vpc", "-o", tt.opts, raw, out).CombinedOutput(); err != nil {
			t.Fatalf("qemu-img: %v: %s", err, b)
		}
		_, mode, err := fixedVHD(out)
		switch {
		case tt.want == "" && (err != nil || mode != BIOS):
			t.Errorf("%s: got %q, %v, want bios", tt.opts, mode, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: got %v, want an error containing %q", tt.opts, err, tt.want)
		}
	}
}

func TestDataRuns(t *testing.T) {
	b := make([]byte, 5*zeroRun+100)
	b[3] = 1
	b[zeroRun+5] = 1
	b[3*zeroRun] = 1
	b[5*zeroRun+99] = 1
	got := dataRuns(b)
	want := [][2]int64{{0, 2 * zeroRun}, {3 * zeroRun, 4 * zeroRun}, {5 * zeroRun, 5*zeroRun + 100}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("got %v, want %v", got, want)
		}
	}
	if got := dataRuns(make([]byte, 3*zeroRun)); len(got) != 0 {
		t.Errorf("all zero: got %v, want no runs", got)
	}
}
