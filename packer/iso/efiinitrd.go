package iso

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/diskfs/go-diskfs/filesystem/iso9660"

	"github.com/keel-os/keel/packer/disk"
)

// GRUB for iso-efi-initrd comes from Debian's grub-efi-amd64-bin (its
// modules) and grub-common (grub-mkimage).
const (
	GrubMkimage    = "grub-mkimage"
	GrubModulesDir = "/usr/lib/grub/x86_64-efi"
)

// grubModules are built into the GRUB image, as LinuxKit's (less the
// file systems and network it never reads an ISO from): the ISO 9660
// file system its config, kernel and initrd are on, the Linux loader and
// the menu.
var grubModules = []string{"part_gpt", "fat", "iso9660", "gzio", "linux", "acpi", "normal", "boot", "configfile", "search", "search_fs_file", "search_fs_uuid", "video", "efi_gop"}

// grubPrefix is where GRUB finds grub.cfg on the device it was started
// from: the CD, whose ISO 9660 file system holds it.
const grubPrefix = "/EFI/BOOT"

// EFIInitrd writes LinuxKit's iso-efi-initrd to path: an ISO 9660 image
// whose El Torito EFI boot image (FAT) holds only GRUB, as the
// removable-media loader; GRUB reads /EFI/BOOT/grub.cfg from the ISO and
// boots /kernel with /initrd.img, plain files on the ISO beside it.
func EFIInitrd(ctx context.Context, path, kernel, initrd, cmdline string) error {
	tool, err := exec.LookPath(GrubMkimage)
	if err != nil {
		return fmt.Errorf("iso-efi-initrd needs %s (install Debian's grub-efi-amd64-bin, or run scripts/ensure-deps.sh): %w", GrubMkimage, err)
	}
	if _, err := os.Stat(GrubModulesDir); err != nil {
		return fmt.Errorf("iso-efi-initrd needs GRUB's EFI modules (install Debian's grub-efi-amd64-bin, or run scripts/ensure-deps.sh): %w", err)
	}
	ws, err := os.MkdirTemp(filepath.Dir(path), ".iso-efi-initrd-")
	if err != nil {
		return fmt.Errorf("creating work directory: %w", err)
	}
	defer os.RemoveAll(ws)
	// grub-mkimage writes the same bytes for the same modules: no time
	// or random number goes in.
	grub := filepath.Join(ws, "BOOTX64.EFI")
	args := append([]string{"-O", "x86_64-efi", "-d", GrubModulesDir, "-o", grub, "-p", grubPrefix}, grubModules...)
	if out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s failed: %w: %s", GrubMkimage, err, bytes.TrimSpace(out))
	}
	loader, err := disk.BootEFIPath("amd64")
	if err != nil {
		return err
	}
	img := filepath.Join(ws, "efiboot.img")
	if err := disk.FATImage(img, "EFIBOOT", map[string]disk.File{loader: {Src: grub}}); err != nil {
		return fmt.Errorf("writing the EFI boot image: %w", err)
	}
	// One folder for the boot image and grub.cfg: go-diskfs would name
	// an "efi" and an "EFI" folder efi0 and efi1.
	dir := strings.TrimPrefix(grubPrefix, "/")
	entry := &iso9660.ElToritoEntry{Platform: iso9660.EFI, Emulation: iso9660.NoEmulation, BootFile: dir + "/efiboot.img"}
	files := map[string]string{entry.BootFile: img, "kernel": kernel, "initrd.img": initrd}
	data := map[string][]byte{dir + "/grub.cfg": GrubConfig(cmdline)}
	return write(path, files, data, entry)
}

// GrubConfig is the grub.cfg that boots /kernel and /initrd.img at once
// with cmdline. Each word of the command line is single-quoted, so GRUB
// passes quotes, dollars and backslashes on to the kernel unchanged.
func GrubConfig(cmdline string) []byte {
	var words []string
	for _, w := range kernelWords(cmdline) {
		words = append(words, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
	}
	linux := "linux /kernel"
	if len(words) > 0 {
		linux += " " + strings.Join(words, " ")
	}
	return []byte("set timeout=0\nset gfxpayload=text\nmenuentry 'Keel' {\n\t" + linux + "\n\tinitrd /initrd.img\n}\n")
}

// kernelWords splits a command line as the kernel does: at spaces, except
// inside double quotes, which stay part of the word.
func kernelWords(s string) []string {
	var words []string
	var cur strings.Builder
	quoted, in := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			cur.WriteRune(r)
			in = true
		case !quoted && (r == ' ' || r == '\t' || r == '\n'):
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}
