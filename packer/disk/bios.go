package disk

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/diskfs/go-diskfs/partition/mbr"
)

// MBRBin is syslinux's boot code for an MBR disk (Debian's syslinux-common).
const MBRBin = "/usr/lib/syslinux/mbr/mbr.bin"

// SyslinuxConfig is the syslinux (and isolinux) configuration that boots
// /kernel and /initrd.img at once with cmdline.
func SyslinuxConfig(cmdline string) []byte {
	return fmt.Appendf(nil, "DEFAULT keel\nPROMPT 0\nTIMEOUT 0\nLABEL keel\n  KERNEL /kernel\n  INITRD /initrd.img\n  APPEND %s\n", strings.TrimSpace(cmdline))
}

// RawBIOS writes an MBR disk image to path with one bootable FAT partition
// holding kernel, initrd and a syslinux configuration with cmdline, and
// syslinux installed into it. size is the whole disk (0: just large
// enough). syslinux's installer (Debian's syslinux package) writes its
// loader through mtools, so no mount and no root are needed.
func RawBIOS(ctx context.Context, path, kernel, initrd, cmdline string, size int64) error {
	code, err := os.ReadFile(MBRBin)
	if err != nil {
		return fmt.Errorf("raw-bios needs syslinux's MBR code (install Debian's syslinux-common package): %w", err)
	}
	if _, err := exec.LookPath("syslinux"); err != nil {
		return fmt.Errorf("raw-bios needs the syslinux installer: install Debian's syslinux and mtools packages")
	}
	files := map[string]File{"/kernel": {Src: kernel}, "/initrd.img": {Src: initrd}, "/syslinux.cfg": {Data: SyslinuxConfig(cmdline)}}
	fat, err := fatSize(files)
	if err != nil {
		return err
	}
	// ldlinux.sys and ldlinux.c32, which the installer adds.
	fat += 2 * mib
	if size, err = diskSize(size, firstLBA*sector+fat, "the kernel and initrd"); err != nil {
		return err
	}
	id, err := contentID(files)
	if err != nil {
		return err
	}
	d, err := create(path, size)
	if err != nil {
		return err
	}
	table := &mbr.Table{
		LogicalSectorSize:  sector,
		PhysicalSectorSize: sector,
		Partitions: []*mbr.Partition{{
			Index: 1, Bootable: true, Type: mbr.Fat32LBA, Start: firstLBA, Size: uint32(size/sector - firstLBA),
		}},
	}
	if err := d.Partition(table); err != nil {
		d.Close()
		return fmt.Errorf("writing the partition table of %s: %w", path, err)
	}
	if err := fillFAT(d, 1, "KEEL", files); err != nil {
		d.Close()
		return err
	}
	if err := d.Close(); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "syslinux", "--install", "--offset", strconv.Itoa(firstLBA*sector), "--directory", "/", path)
	// mtools stamps the files it writes with SOURCE_DATE_EPOCH when set.
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=0", "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("installing syslinux into %s: %w: %s", path, err, strings.TrimSpace(string(out)))
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	// Boot code first (440 bytes), then a disk signature from the
	// contents; the partition table after it stays as written.
	if len(code) > 440 {
		code = code[:440]
	}
	if _, err := f.WriteAt(code, 0); err != nil {
		return fmt.Errorf("writing the MBR boot code: %w", err)
	}
	if _, err := f.WriteAt(id[:4], 440); err != nil {
		return fmt.Errorf("writing the disk signature: %w", err)
	}
	return f.Close()
}
