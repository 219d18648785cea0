package push

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// vhdFooterSize is the size of the footer a fixed VHD ends with.
const vhdFooterSize = 512

// The disk types a VHD footer names.
const (
	vhdFixed        = 2
	vhdDynamic      = 3
	vhdDifferencing = 4
)

const mib = 1 << 20

// fixedVHD checks that the file at path is what Azure takes: a fixed VHD
// (the disk's bytes, then a 512-byte footer) whose disk is a whole number
// of MiB. It returns the file's size (disk and footer) and the boot mode
// of the disk in it.
func fixedVHD(path string) (int64, BootMode, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, "", err
	}
	size := fi.Size()
	if size < mib+vhdFooterSize {
		return 0, "", fmt.Errorf("%s is too small (%d bytes) for a VHD of a disk: build it with -format vhd", path, size)
	}
	foot := make([]byte, vhdFooterSize)
	if _, err := f.ReadAt(foot, size-vhdFooterSize); err != nil {
		return 0, "", fmt.Errorf("read the VHD footer of %s: %w", path, err)
	}
	if err := checkVHDFooter(foot, size); err != nil {
		return 0, "", fmt.Errorf("%s: %w", path, err)
	}
	m, err := detectBootMode(f)
	if err != nil {
		return 0, "", fmt.Errorf("%s: %w", path, err)
	}
	return size, m, nil
}

// checkVHDFooter checks a VHD footer against what Azure requires of a
// file of fileSize bytes; each refusal says how to make a file it takes.
func checkVHDFooter(foot []byte, fileSize int64) error {
	if string(foot[:8]) != "conectix" {
		return errors.New("not a VHD (no footer at the end): Azure takes a fixed VHD, build it with -format vhd")
	}
	var sum uint32
	for i, b := range foot {
		if i < 64 || i >= 68 {
			sum += uint32(b)
		}
	}
	if got := binary.BigEndian.Uint32(foot[64:]); got != ^sum {
		return fmt.Errorf("the VHD footer's checksum is %#x, want %#x: the file is damaged, build it again", got, ^sum)
	}
	switch t := binary.BigEndian.Uint32(foot[60:]); t {
	case vhdFixed:
	case vhdDynamic, vhdDifferencing:
		return errors.New("a dynamic or differencing VHD: Azure takes a fixed VHD only; build with -format vhd (not dynamic-vhd) or convert it: qemu-img convert -O vpc -o subformat=fixed,force_size=on IN OUT.vhd")
	default:
		return fmt.Errorf("VHD disk type %d is not one Azure takes (a fixed VHD, type 2)", t)
	}
	disk := int64(binary.BigEndian.Uint64(foot[48:]))
	if disk != fileSize-vhdFooterSize {
		return fmt.Errorf("the VHD footer gives a disk of %d bytes but the file holds %d: the file is truncated or padded", disk, fileSize-vhdFooterSize)
	}
	if disk%mib != 0 {
		return fmt.Errorf("the disk is %d bytes, not a whole number of MiB as Azure requires: build with --size (e.g. --size %dM), or qemu-img resize the raw disk before converting it", disk, (disk+mib-1)/mib)
	}
	return nil
}
