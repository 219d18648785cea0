package run

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// What a build is and how QEMU boots it.
type kind int

const (
	kindKernel kind = iota // PREFIX-kernel + PREFIX-initrd.img (+ a root image)
	kindISO                // -cdrom
	kindDisk               // a disk image: raw, qcow2, vhd, vmdk
	kindUKI                // an EFI binary, booted from a generated ESP
)

// artifact is what Args boots.
type artifact struct {
	kind   kind
	path   string
	format string // qemu's format name for a disk
	efi    bool   // boots only under UEFI
	// root is the root file system image of a kernel+squashfs build,
	// attached as a disk beside its kernel and initrd.
	root string
}

// RootSuffixes are the file names after PREFIX of a root image that
// `keel run qemu PREFIX` attaches: keel build's kernel+squashfs,
// kernel+erofs and kernel+iso. An ISO with a boot catalog is iso-bios's (the same name),
// not a root.
var RootSuffixes = []string{"-squashfs.img", "-erofs.img", ".iso"}

// find decides what q boots: a kernel+initrd build at Prefix, or the image
// file named by Image (or by Prefix when that is a file).
func (q *QEMU) find() (artifact, error) {
	img := q.Image
	if img == "" {
		if _, err := os.Stat(q.Prefix + "-kernel"); err == nil {
			a := artifact{kind: kindKernel, path: q.Prefix}
			for _, suffix := range RootSuffixes {
				if fi, err := os.Stat(q.Prefix + suffix); err == nil && fi.Mode().IsRegular() && !bootableISO(q.Prefix+suffix) {
					a.root = q.Prefix + suffix
					break
				}
			}
			return a, nil
		}
		if fi, err := os.Stat(q.Prefix); err == nil && fi.Mode().IsRegular() {
			img = q.Prefix
		}
	}
	if img == "" {
		return artifact{}, fmt.Errorf("nothing to boot at %s: want PREFIX with PREFIX-kernel and PREFIX-initrd.img, or an image file (.iso, .img, .raw, .qcow2, .vhd, .vmdk, .efi); run `keel build` first", q.Prefix)
	}
	return sniff(img)
}

// sniff reads an image's first bytes to tell ISO, UKI and disk formats
// apart, and whether the image needs UEFI.
func sniff(p string) (artifact, error) {
	f, err := os.Open(p)
	if err != nil {
		return artifact{}, fmt.Errorf("opening image: %w", err)
	}
	defer f.Close()
	head := make([]byte, 0x8800)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF {
		return artifact{}, fmt.Errorf("reading image %s: %w", p, err)
	}
	head = head[:n]
	a := artifact{path: p, kind: kindDisk, format: formatFromName(p)}
	nameEFI := strings.Contains(filepath.Base(p), "-efi.")
	switch {
	case bytes.HasPrefix(head, []byte("QFI\xfb")):
		a.format, a.efi = "qcow2", nameEFI
	case bytes.HasPrefix(head, []byte("KDMV")):
		a.format, a.efi = "vmdk", nameEFI
	case bytes.HasPrefix(head, []byte("MZ")):
		a.kind, a.format, a.efi = kindUKI, "", true
	case len(head) > 0x8006 && string(head[0x8001:0x8006]) == "CD001":
		a.kind, a.format = kindISO, ""
		a.efi, err = isoEFIOnly(f)
		if err != nil {
			return a, err
		}
	case len(head) >= 512 && head[510] == 0x55 && head[511] == 0xaa && head[446+4] == 0xee:
		// A protective MBR: the disk is GPT, which Keel makes for EFI.
		a.format, a.efi = "raw", true
	case a.format == "vpc":
		a.efi = nameEFI
	default:
		a.format = "raw"
	}
	return a, nil
}

// isoEFIOnly reads the El Torito boot catalog: an ISO whose default entry
// is for EFI (Keel's iso-efi) cannot boot with SeaBIOS.
func isoEFIOnly(f *os.File) (bool, error) {
	const block = 2048
	brvd := make([]byte, block)
	if _, err := f.ReadAt(brvd, 17*block); err != nil {
		return false, nil
	}
	if brvd[0] != 0 || !bytes.HasPrefix(brvd[7:], []byte("EL TORITO SPECIFICATION")) {
		return false, nil
	}
	cat := make([]byte, 32)
	if _, err := f.ReadAt(cat, int64(binary.LittleEndian.Uint32(brvd[0x47:]))*block); err != nil {
		return false, fmt.Errorf("reading the ISO's boot catalog: %w", err)
	}
	// The validation entry's platform id: 0xEF is EFI.
	return cat[0] == 1 && cat[1] == 0xef, nil
}

// bootableISO says whether p is an ISO 9660 image with an El Torito boot
// record (iso-bios, iso-efi), which boots on its own.
func bootableISO(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	const block = 2048
	head := make([]byte, 18*block)
	if _, err := io.ReadFull(f, head); err != nil {
		return false
	}
	return string(head[16*block+1:16*block+6]) == "CD001" && bytes.HasPrefix(head[17*block+7:], []byte("EL TORITO SPECIFICATION"))
}
