package push

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/klauspost/compress/gzip"
)

// BootMode is how firmware starts an image.
type BootMode string

// The boot modes of Keel's disk formats: raw-bios (and aws, gcp, vhd) is an
// MBR disk with syslinux; raw-efi is a GPT disk with an EFI system
// partition.
const (
	BIOS BootMode = "bios"
	UEFI BootMode = "uefi"
)

const sector = 512

// espType is the EFI system partition's type GUID as GPT stores it
// (C12A7328-F81F-11D2-BA4B-00A0C93EC93B, mixed-endian).
var espType = []byte{0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e, 0xc9, 0x3b}

// maxTableBytes bounds what is read to find the partition table: the MBR,
// the GPT header and up to 128 entries of 128 bytes fit in 34 sectors;
// allow a table a little further in, never more.
const maxTableBytes = 1 << 20

// detectBootMode reads a disk image's partition table: a GPT disk with an
// EFI system partition boots with UEFI, an MBR disk with BIOS. Anything
// else is not a disk Keel made.
func detectBootMode(r io.Reader) (BootMode, error) {
	head := make([]byte, 34*sector)
	if _, err := io.ReadFull(r, head); err != nil {
		return "", fmt.Errorf("too short for a disk image: %w", err)
	}
	if head[510] != 0x55 || head[511] != 0xaa {
		return "", errors.New("no partition table (no MBR signature): build it with -format aws, gcp or raw-efi")
	}
	if head[446+4] != 0xee || !bytes.Equal(head[sector:sector+8], []byte("EFI PART")) {
		return BIOS, nil
	}
	h := head[sector:]
	entriesLBA := binary.LittleEndian.Uint64(h[72:])
	count := binary.LittleEndian.Uint32(h[80:])
	size := binary.LittleEndian.Uint32(h[84:])
	if size < 128 || size > 4096 || count > 1024 {
		return "", fmt.Errorf("GPT header is malformed (%d entries of %d bytes)", count, size)
	}
	start, end := entriesLBA*sector, entriesLBA*sector+uint64(count)*uint64(size)
	if entriesLBA < 2 || end > maxTableBytes {
		return "", fmt.Errorf("GPT partition entries at LBA %d are outside the first MiB", entriesLBA)
	}
	if end > uint64(len(head)) {
		more := make([]byte, end-uint64(len(head)))
		if _, err := io.ReadFull(r, more); err != nil {
			return "", fmt.Errorf("read GPT partition entries: %w", err)
		}
		head = append(head, more...)
	}
	for off := start; off < end; off += uint64(size) {
		if bytes.Equal(head[off:off+16], espType) {
			return UEFI, nil
		}
	}
	return "", errors.New("GPT disk without an EFI system partition: it cannot boot")
}

// rawBootMode is the boot mode of a raw disk image file (aws).
func rawBootMode(path string) (BootMode, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	m, err := detectBootMode(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// gcpBootMode is the boot mode of a gcp image: a gzip-compressed tar whose
// first member is disk.raw. Only the disk's first sectors are unpacked.
func gcpBootMode(path string) (BootMode, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return "", fmt.Errorf("%s is not a gcp image (a .img.tar.gz from -format gcp): %w", path, err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	hdr, err := tr.Next()
	if err != nil {
		return "", fmt.Errorf("%s is not a gcp image (a .img.tar.gz from -format gcp): %w", path, err)
	}
	if hdr.Name != "disk.raw" {
		return "", fmt.Errorf("%s: the first file is %q; Compute Engine imports a tar whose one file is disk.raw (build with -format gcp)", path, hdr.Name)
	}
	m, err := detectBootMode(tr)
	if err != nil {
		return "", fmt.Errorf("%s: disk.raw: %w", path, err)
	}
	return m, nil
}
