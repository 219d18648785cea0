package iso

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

func needIsolinux(t *testing.T) {
	t.Helper()
	for _, f := range []string{IsolinuxBin, LdlinuxC32} {
		if _, err := os.Stat(f); err != nil {
			if os.Getenv("KEEL_E2E") == "1" {
				t.Fatalf("%s missing: run scripts/ensure-deps.sh", f)
			}
			t.Skipf("%s missing: run scripts/ensure-deps.sh", f)
		}
	}
}

// catalog returns the El Torito boot catalog's first two entries.
func catalog(t *testing.T, img []byte) (validation, initial []byte) {
	t.Helper()
	brvd := img[17*blockSize:]
	if brvd[0] != 0 || !bytes.HasPrefix(brvd[7:], []byte("EL TORITO SPECIFICATION")) {
		t.Fatalf("sector 17 is not an El Torito boot record")
	}
	at := int(binary.LittleEndian.Uint32(brvd[0x47:])) * blockSize
	return img[at : at+32], img[at+32 : at+64]
}

func readISO(t *testing.T, p, name string) []byte {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fs, err := iso9660.Read(file.New(f, true), 0, 0, blockSize)
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs.ReadFile(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

func TestBIOS(t *testing.T) {
	needIsolinux(t)
	dir := t.TempDir()
	kernel, initrd := filepath.Join(dir, "k"), filepath.Join(dir, "i")
	os.WriteFile(kernel, bytes.Repeat([]byte("K"), 3000), 0o644)
	os.WriteFile(initrd, bytes.Repeat([]byte("I"), 5000), 0o644)
	var images [2][]byte
	for i := range images {
		p := filepath.Join(dir, "a.iso")
		if err := BIOS(p, kernel, initrd, "console=ttyS0 quiet"); err != nil {
			t.Fatal(err)
		}
		images[i], _ = os.ReadFile(p)
		if i == 0 {
			if got := readISO(t, p, "KERNEL"); !bytes.Equal(got, bytes.Repeat([]byte("K"), 3000)) {
				t.Errorf("kernel on the ISO differs from the input")
			}
			if got := readISO(t, p, "ISOLINUX/ISOLINUX.CFG"); !bytes.Contains(got, []byte("APPEND console=ttyS0 quiet")) {
				t.Errorf("isolinux.cfg lacks the command line:\n%s", got)
			}
			time.Sleep(1100 * time.Millisecond)
		}
	}
	img := images[0]
	val, ini := catalog(t, img)
	if val[0] != 1 || val[1] != 0 || val[30] != 0x55 || val[31] != 0xaa {
		t.Errorf("got validation entry % x, want header 1, platform 0 (BIOS), key 55 aa", val)
	}
	if ini[0] != 0x88 || ini[1] != 0 {
		t.Errorf("got initial entry bootable %#x emulation %#x, want 0x88 and 0 (no emulation)", ini[0], ini[1])
	}
	// isolinux needs the boot information table: the PVD's LBA at 8.
	boot := img[int(binary.LittleEndian.Uint32(ini[8:]))*blockSize:]
	if got := binary.LittleEndian.Uint32(boot[8:]); got != 16 {
		t.Errorf("boot info table: got PVD at %d, want 16", got)
	}
	if got, want := string(img[16*blockSize+813:16*blockSize+829]), "1970010100000000"; got != want {
		t.Errorf("volume creation date %q, want %q", got, want)
	}
	if !bytes.Equal(images[0], images[1]) {
		t.Errorf("two ISOs from the same files differ")
	}
}

func TestEFI(t *testing.T) {
	dir := t.TempDir()
	uki := filepath.Join(dir, "uki.efi")
	os.WriteFile(uki, bytes.Repeat([]byte("MZ"), 4000), 0o644)
	// The loader's FAT short name (8.3, no dot) in the boot image's
	// directory entry.
	for _, tt := range []struct{ arch, wantName string }{
		{"amd64", "BOOTX64 EFI"},
		{"arm64", "BOOTAA64EFI"},
	} {
		t.Run(tt.arch, func(t *testing.T) {
			p := filepath.Join(dir, tt.arch+".iso")
			if err := EFI(p, uki, tt.arch); err != nil {
				t.Fatal(err)
			}
			img, _ := os.ReadFile(p)
			val, ini := catalog(t, img)
			if val[1] != 0xef {
				t.Errorf("got platform %#x, want 0xef (EFI)", val[1])
			}
			if ini[0] != 0x88 {
				t.Errorf("got initial entry bootable %#x, want 0x88", ini[0])
			}
			efiboot := readISO(t, p, "EFI/EFIBOOT.IMG")
			if !bytes.Contains(efiboot, bytes.Repeat([]byte("MZ"), 4000)) {
				t.Errorf("the EFI boot image does not hold the UKI")
			}
			if !bytes.Contains(efiboot, []byte(tt.wantName)) {
				t.Errorf("the EFI boot image has no %q directory entry", tt.wantName)
			}
		})
	}
	if err := EFI(filepath.Join(dir, "riscv64.iso"), uki, "riscv64"); err == nil {
		t.Errorf("EFI for riscv64: got no error, want one (no loader name)")
	}
}
