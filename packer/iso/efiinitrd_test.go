package iso

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"
)

func TestGrubConfig(t *testing.T) {
	for _, c := range []struct{ cmdline, want string }{
		{"", "linux /kernel\n"},
		{"console=ttyS0 quiet", "linux /kernel 'console=ttyS0' 'quiet'\n"},
		// Quotes group a value as the kernel reads it; GRUB must pass
		// them, and $ and ' literally.
		{`a="x y" b=$HOME c='q'`, `linux /kernel 'a="x y"' 'b=$HOME' 'c='\''q'\'''` + "\n"},
	} {
		got := string(GrubConfig(c.cmdline))
		if !strings.Contains(got, "\t"+c.want) || !strings.Contains(got, "\tinitrd /initrd.img\n") || !strings.HasPrefix(got, "set timeout=0\n") {
			t.Errorf("GrubConfig(%q):\n%s\nwant a menu entry with %q and initrd /initrd.img", c.cmdline, got, c.want)
		}
	}
}

// TestEFIInitrdFiles: the kernel, the initrd and grub.cfg are plain files
// of the ISO, where GRUB (and anyone mounting it) finds them.
func TestEFIInitrdFiles(t *testing.T) {
	if _, err := exec.LookPath(GrubMkimage); err != nil {
		if os.Getenv("KEEL_E2E") == "1" {
			t.Fatal("grub-mkimage missing: run scripts/ensure-deps.sh")
		}
		t.Skip("grub-mkimage missing (Debian's grub-efi-amd64-bin)")
	}
	dir := t.TempDir()
	kernel, initrd := filepath.Join(dir, "k"), filepath.Join(dir, "i")
	os.WriteFile(kernel, []byte("KERNEL"), 0o644)
	os.WriteFile(initrd, []byte("INITRD"), 0o644)
	p := filepath.Join(dir, "x-efi-initrd.iso")
	if err := EFIInitrd(context.Background(), p, kernel, initrd, "console=ttyS0"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	fsys, err := iso9660.Read(file.New(f, true), st.Size(), 0, blockSize)
	if err != nil {
		t.Fatal(err)
	}
	// Plain ISO 9660 names are upper case; GRUB and Linux match them
	// without regard to case, go-diskfs's reader does not.
	for name, want := range map[string]string{"KERNEL": "KERNEL", "INITRD.IMG": "INITRD", "EFI/BOOT/GRUB.CFG": "linux /kernel 'console=ttyS0'"} {
		fh, err := fsys.OpenFile(name, os.O_RDONLY)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		b, _ := io.ReadAll(fh)
		if !strings.Contains(string(b), want) {
			t.Errorf("%s: got %q, want it to hold %q", name, b, want)
		}
	}
}
