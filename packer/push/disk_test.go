package push

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// testDisk is a disk image of size bytes with the partition table of a
// Keel raw-bios (MBR) or raw-efi (GPT with an ESP) disk, and noise after
// it so that compression leaves it about as large.
func testDisk(t *testing.T, mode BootMode, size int) []byte {
	t.Helper()
	d := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, uint64(size)))
	for i := 64 * sector; i < size; i++ {
		d[i] = byte(rng.Uint32())
	}
	d[510], d[511] = 0x55, 0xaa
	switch mode {
	case BIOS:
		d[446] = 0x80
		d[446+4] = 0x0c // FAT32 LBA
	case UEFI:
		d[446+4] = 0xee
		h := d[sector:]
		copy(h, "EFI PART")
		binary.LittleEndian.PutUint64(h[72:], 2)
		binary.LittleEndian.PutUint32(h[80:], 128)
		binary.LittleEndian.PutUint32(h[84:], 128)
		copy(d[2*sector:], espType)
	}
	return d
}

func writeGCPImage(t *testing.T, dir, name string, disk []byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "disk.raw", Mode: 0o644, Size: int64(len(disk)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(disk)
	tw.Close()
	zw.Close()
	p := filepath.Join(dir, name+GCPSuffix)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDetectBootMode(t *testing.T) {
	gptNoESP := testDisk(t, UEFI, 64*1024)
	copy(gptNoESP[2*sector:], make([]byte, 16))
	badHeader := testDisk(t, UEFI, 64*1024)
	binary.LittleEndian.PutUint32(badHeader[sector+84:], 1<<30)
	farEntries := testDisk(t, UEFI, 64*1024)
	binary.LittleEndian.PutUint64(farEntries[sector+72:], 1<<40)
	tests := []struct {
		name    string
		disk    []byte
		want    BootMode
		wantErr string
	}{
		{"mbr", testDisk(t, BIOS, 64*1024), BIOS, ""},
		{"gpt with esp", testDisk(t, UEFI, 64*1024), UEFI, ""},
		{"gpt without esp", gptNoESP, "", "without an EFI system partition"},
		{"no signature", make([]byte, 64*1024), "", "no partition table"},
		{"short", []byte{1, 2, 3}, "", "too short"},
		{"huge entry size", badHeader, "", "malformed"},
		{"entries far away", farEntries, "", "outside the first MiB"},
	}
	for _, tt := range tests {
		got, err := detectBootMode(bytes.NewReader(tt.disk))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: got error %v, want one containing %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: got %q, %v, want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestGCPBootModeRefusesOtherFiles(t *testing.T) {
	dir := t.TempDir()
	notGzip := filepath.Join(dir, "x.img.tar.gz")
	os.WriteFile(notGzip, []byte("plain"), 0o644)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "other", Size: 0, Typeflag: tar.TypeReg})
	tw.Close()
	zw.Close()
	wrongMember := filepath.Join(dir, "y.img.tar.gz")
	os.WriteFile(wrongMember, buf.Bytes(), 0o644)
	for _, tt := range []struct{ path, want string }{
		{notGzip, "not a gcp image"},
		{wrongMember, `first file is "other"`},
	} {
		if _, err := gcpBootMode(tt.path); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("gcpBootMode(%s): got %v, want an error containing %q", filepath.Base(tt.path), err, tt.want)
		}
	}
}
