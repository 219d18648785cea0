package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// signature is a filesystem's (or container format's) magic at an offset.
type signature struct {
	name   string
	offset int64
	magic  string
}

// signatures are what LinuxKit's blkid check would find on a volume it
// made or one a user filled: a match means the mapping is kept as it is.
var signatures = []signature{
	{"ext4", 1080, "\x53\xef"}, // ext2/3/4: s_magic 0xEF53, little-endian
	{"xfs", 0, "XFSB"},
	{"btrfs", 65600, "_BHRfS_M"},
	{"swap", 4086, "SWAPSPACE2"},
	{"swap", 4086, "SWAP-SPACE"},
	{"squashfs", 0, "hsqs"},
	{"iso9660", 32769, "CD001"},
	{"luks", 0, "LUKS\xba\xbe"},
	{"vfat", 54, "FAT1"}, // FAT12/16 BS_FilSysType
	{"vfat", 82, "FAT32"},
}

// probeLen is how much of a device probe reads: past the farthest magic.
const probeLen = 65600 + 8

// probeFile names the filesystem on the device at path, "" for none.
func probeFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading %s to look for a filesystem: %w", path, err)
	}
	defer f.Close()
	buf := make([]byte, probeLen)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading %s to look for a filesystem: %w", path, err)
	}
	return probe(buf[:n]), nil
}

// probe names the filesystem whose magic head carries, "" for none.
func probe(head []byte) string {
	for _, s := range signatures {
		end := s.offset + int64(len(s.magic))
		if end <= int64(len(head)) && bytes.Equal(head[s.offset:end], []byte(s.magic)) {
			return s.name
		}
	}
	return ""
}

// zero writes zeros over the whole device at path, as LinuxKit's
// `dd if=/dev/zero` does, so no stale plaintext or earlier data shows
// through the new filesystem's free blocks.
func zero(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("zeroing %s: %w", path, err)
	}
	size, err := f.Seek(0, io.SeekEnd)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("zeroing %s: finding its size: %w", path, err)
	}
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		n := int64(len(buf))
		if left < n {
			n = left
		}
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return fmt.Errorf("zeroing %s: %w", path, err)
		}
		left -= n
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("zeroing %s: %w", path, err)
	}
	return f.Close()
}
