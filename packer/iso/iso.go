// Package iso writes bootable ISO 9660 images with go-diskfs: iso-bios
// boots the kernel and initrd with isolinux; iso-efi carries a UKI on the
// El Torito EFI boot image; Tree writes kernel+iso's root file system
// (not bootable) with Rock Ridge. Timestamps are fixed so builds are
// reproducible.
package iso

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"

	"github.com/keel-os/keel/packer/disk"
)

// Debian's isolinux and syslinux-common packages provide the BIOS loader.
const (
	IsolinuxBin = "/usr/lib/ISOLINUX/isolinux.bin"
	LdlinuxC32  = "/usr/lib/syslinux/modules/bios/ldlinux.c32"
)

// Label is the ISO volume identifier.
const Label = "KEEL"

// Epoch is the time stamped on every file and on the volume.
var Epoch = time.Unix(0, 0).UTC()

const blockSize = 2048

// BIOS writes an ISO to path that boots kernel and initrd with the kernel
// command line cmdline through isolinux.
func BIOS(path, kernel, initrd, cmdline string) error {
	files := map[string]string{
		"isolinux/isolinux.bin": IsolinuxBin,
		"isolinux/ldlinux.c32":  LdlinuxC32,
		"kernel":                kernel,
		"initrd.img":            initrd,
	}
	for _, src := range []string{IsolinuxBin, LdlinuxC32} {
		if _, err := os.Stat(src); err != nil {
			return fmt.Errorf("iso-bios needs isolinux (install Debian's isolinux and syslinux-common packages): %w", err)
		}
	}
	entry := &iso9660.ElToritoEntry{Platform: iso9660.BIOS, Emulation: iso9660.NoEmulation, BootFile: "isolinux/isolinux.bin", BootTable: true}
	// isolinux loads the rest of itself: the BIOS reads 4 sectors.
	entry.SetLoadSize(4)
	return write(path, files, map[string][]byte{"isolinux/isolinux.cfg": disk.SyslinuxConfig(cmdline)}, entry)
}

// EFI writes an ISO to path whose El Torito EFI boot image is a FAT file
// system holding uki as arch's removable-media loader.
func EFI(path, uki, arch string) error {
	loader, err := disk.BootEFIPath(arch)
	if err != nil {
		return err
	}
	ws, err := os.MkdirTemp(filepath.Dir(path), ".iso-efi-")
	if err != nil {
		return fmt.Errorf("creating work directory: %w", err)
	}
	defer os.RemoveAll(ws)
	img := filepath.Join(ws, "efiboot.img")
	if err := disk.FATImage(img, "EFIBOOT", map[string]disk.File{loader: {Src: uki}}); err != nil {
		return fmt.Errorf("writing the EFI boot image: %w", err)
	}
	entry := &iso9660.ElToritoEntry{Platform: iso9660.EFI, Emulation: iso9660.NoEmulation, BootFile: "efi/efiboot.img"}
	return write(path, map[string]string{"efi/efiboot.img": img}, nil, entry)
}

// write makes an ISO of files (ISO name -> host file) and data with one
// El Torito boot entry.
func write(path string, files map[string]string, data map[string][]byte, entry *iso9660.ElToritoEntry) error {
	ws, err := os.MkdirTemp(filepath.Dir(path), ".iso-")
	if err != nil {
		return fmt.Errorf("creating work directory: %w", err)
	}
	defer os.RemoveAll(ws)
	for name, src := range files {
		if err := place(filepath.Join(ws, name), src, nil); err != nil {
			return err
		}
	}
	for name, b := range data {
		if err := place(filepath.Join(ws, name), "", b); err != nil {
			return err
		}
	}
	if err := stampTree(ws); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	defer f.Close()
	fs, err := iso9660.Create(file.New(f, false), 0, 0, blockSize, ws)
	if err != nil {
		return fmt.Errorf("creating ISO file system: %w", err)
	}
	err = fs.Finalize(iso9660.FinalizeOptions{
		VolumeIdentifier: Label,
		ElTorito:         &iso9660.ElTorito{BootCatalog: filepath.Dir(entry.BootFile) + "/boot.cat", Entries: []*iso9660.ElToritoEntry{entry}},
	})
	if err != nil {
		return fmt.Errorf("writing ISO file system: %w", err)
	}
	return fixTimes(f)
}

// place puts src (hard-linked when possible, else copied) or b at dst.
func place(dst, src string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if src == "" {
		return os.WriteFile(dst, b, 0o644)
	}
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("reading %s: %w", src, err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return out.Close()
}

// stampTree gives every file and directory under dir the fixed time: the
// ISO's directory records take their dates from it.
func stampTree(dir string) error {
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, Epoch, Epoch)
	})
}

// fixTimes overwrites the dates go-diskfs takes from the clock (the volume
// descriptor's and the boot catalog's) with Epoch, walking the directory
// tree from the primary volume descriptor so every record agrees.
func fixTimes(f *os.File) error {
	pvd := make([]byte, blockSize)
	if _, err := f.ReadAt(pvd, 16*blockSize); err != nil {
		return fmt.Errorf("reading the volume descriptor: %w", err)
	}
	if pvd[0] != 1 || string(pvd[1:6]) != "CD001" {
		return fmt.Errorf("sector 16 is not a primary volume descriptor")
	}
	stamp := []byte(Epoch.Format("20060102150405") + "00\x00")
	for _, off := range []int{813, 830, 864} {
		copy(pvd[off:off+17], stamp)
	}
	// Expiration: "not specified".
	copy(pvd[847:847+17], "0000000000000000\x00")
	copy(pvd[156+18:156+25], recDate())
	if _, err := f.WriteAt(pvd, 16*blockSize); err != nil {
		return err
	}
	return fixDir(f, binary.LittleEndian.Uint32(pvd[156+2:]), binary.LittleEndian.Uint32(pvd[156+10:]), 0)
}

// recDate is Epoch as a directory record's 7-byte date.
func recDate() []byte {
	return []byte{byte(Epoch.Year() - 1900), byte(Epoch.Month()), byte(Epoch.Day()), byte(Epoch.Hour()), byte(Epoch.Minute()), byte(Epoch.Second()), 0}
}

func fixDir(f *os.File, lba, size uint32, depth int) error {
	if depth > 8 {
		return fmt.Errorf("ISO directories nested too deep")
	}
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, int64(lba)*blockSize); err != nil {
		return fmt.Errorf("reading ISO directory: %w", err)
	}
	for i := 0; i < len(buf); {
		n := int(buf[i])
		if n == 0 {
			// Records never cross a block: go to the next one.
			i = (i/blockSize + 1) * blockSize
			continue
		}
		if i+n > len(buf) || n < 34 {
			return fmt.Errorf("bad ISO directory record at %d", i)
		}
		rec := buf[i : i+n]
		copy(rec[18:25], recDate())
		self := rec[32] == 1 && (rec[33] == 0 || rec[33] == 1)
		if rec[25]&2 != 0 && !self {
			if err := fixDir(f, binary.LittleEndian.Uint32(rec[2:]), binary.LittleEndian.Uint32(rec[10:]), depth+1); err != nil {
				return err
			}
		}
		i += n
	}
	_, err := f.WriteAt(buf, int64(lba)*blockSize)
	return err
}
