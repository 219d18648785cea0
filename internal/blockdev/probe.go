package blockdev

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// The ext2/3/4 superblock starts 1024 bytes into the filesystem. Offsets
// below are within it (see the kernel's fs/ext4/ext4.h, struct
// ext4_super_block).
const (
	superblockOffset = 1024
	offMagic         = 0x38
	offCompat        = 0x5c
	offIncompat      = 0x60
	offUUID          = 0x68
	offLabel         = 0x78
	labelLen         = 16
	extMagic         = 0xef53

	compatHasJournal = 0x4
	// Any of these makes a filesystem that only the ext4 driver mounts.
	incompatExt4 = 0x40 | 0x80 | 0x200 // extents, 64bit, flex_bg
)

// ErrNotExt is returned by ReadExt for a device without an ext superblock.
var ErrNotExt = errors.New("no ext2/3/4 superblock")

// Ext is what an ext2/3/4 superblock says about its filesystem.
type Ext struct {
	Type  string // ext2, ext3 or ext4
	Label string
	UUID  string
}

// ReadExt reads the superblock of an ext2/3/4 filesystem.
func ReadExt(r io.ReaderAt) (Ext, error) {
	sb := make([]byte, 256)
	if _, err := r.ReadAt(sb, superblockOffset); err != nil {
		if errors.Is(err, io.EOF) {
			return Ext{}, ErrNotExt
		}
		return Ext{}, fmt.Errorf("reading the superblock: %w", err)
	}
	if binary.LittleEndian.Uint16(sb[offMagic:]) != extMagic {
		return Ext{}, ErrNotExt
	}
	e := Ext{Type: "ext2"}
	switch {
	case binary.LittleEndian.Uint32(sb[offIncompat:])&incompatExt4 != 0:
		e.Type = "ext4"
	case binary.LittleEndian.Uint32(sb[offCompat:])&compatHasJournal != 0:
		e.Type = "ext3"
	}
	label := sb[offLabel : offLabel+labelLen]
	if i := bytes.IndexByte(label, 0); i >= 0 {
		label = label[:i]
	}
	e.Label = string(label)
	u := sb[offUUID : offUUID+16]
	e.UUID = fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
	return e, nil
}

// probeSize is how much of a device Describe reads: every signature it
// knows lies in the first 64 KiB, and a disk that is blank this far is
// taken as blank.
const probeSize = 1 << 20

// signatures are checked in order; the first match names the content.
var signatures = []struct {
	offset int
	magic  string
	what   string
}{
	{512, "EFI PART", "a GPT partition table"},
	{0, "LUKS\xba\xbe", "a LUKS encrypted volume"},
	{0, "XFSB", "an XFS filesystem"},
	{0, "hsqs", "a squashfs filesystem"},
	{0x10040, "_BHRfS_M", "a btrfs filesystem"},
	{0x8001, "CD001", "an ISO 9660 filesystem"},
	{4096 - 10, "SWAPSPACE2", "a swap area"},
	{510, "\x55\xaa", "an MBR partition table or a boot sector"},
}

// Describe tells what r holds: "" when its first megabyte is all zeros (a
// blank disk), else a phrase such as "an ext4 filesystem labelled data",
// "a GPT partition table" or "data".
func Describe(r io.ReaderAt) (string, error) {
	buf := make([]byte, probeSize)
	n, err := r.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the first blocks: %w", err)
	}
	buf = buf[:n]
	if e, err := ReadExt(bytes.NewReader(buf)); err == nil {
		if e.Label != "" {
			return fmt.Sprintf("an %s filesystem labelled %q", e.Type, e.Label), nil
		}
		return "an " + e.Type + " filesystem", nil
	}
	for _, s := range signatures {
		if s.offset+len(s.magic) <= len(buf) && string(buf[s.offset:s.offset+len(s.magic)]) == s.magic {
			return s.what, nil
		}
	}
	for _, b := range buf {
		if b != 0 {
			return "data", nil
		}
	}
	return "", nil
}
