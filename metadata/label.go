package metadata

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"unicode/utf16"
)

// Volume is what ReadVolume found at the start of a block device.
type Volume struct {
	FSType string // "iso9660", "vfat" or ""
	// Labels holds every label the medium carries (an ISO's primary and
	// Joliet volume ids may differ).
	Labels []string
}

// HasLabel reports whether any of the volume's labels is one of want.
func (v Volume) HasLabel(want ...string) bool {
	for _, l := range v.Labels {
		for _, w := range want {
			if l == w {
				return true
			}
		}
	}
	return false
}

// ReadVolume recognizes ISO 9660 (with Joliet) and FAT file systems and reads
// their labels, the way blkid finds NoCloud's "cidata" disk.
func ReadVolume(r io.ReaderAt) Volume {
	if v, ok := readISO(r); ok {
		return v
	}
	if v, ok := readFAT(r); ok {
		return v
	}
	return Volume{}
}

func readISO(r io.ReaderAt) (Volume, bool) {
	v := Volume{FSType: "iso9660"}
	buf := make([]byte, 2048)
	found := false
	// Volume descriptors start at sector 16 and end with a type-255 one.
	for i := int64(16); i < 32; i++ {
		if _, err := r.ReadAt(buf, i*2048); err != nil {
			break
		}
		if string(buf[1:6]) != "CD001" {
			break
		}
		switch buf[0] {
		case 1:
			found = true
			if l := strings.TrimRight(string(buf[40:72]), " \x00"); l != "" {
				v.Labels = append(v.Labels, l)
			}
		case 2:
			esc := string(buf[88:91])
			if esc == "%/@" || esc == "%/C" || esc == "%/E" {
				u := make([]uint16, 16)
				for j := range u {
					u[j] = binary.BigEndian.Uint16(buf[40+2*j:])
				}
				if l := strings.TrimRight(string(utf16.Decode(u)), " \x00"); l != "" {
					v.Labels = append(v.Labels, l)
				}
			}
		case 255:
			return v, found
		}
	}
	return v, found
}

func readFAT(r io.ReaderAt) (Volume, bool) {
	b := make([]byte, 512)
	if _, err := r.ReadAt(b, 0); err != nil || b[510] != 0x55 || b[511] != 0xAA {
		return Volume{}, false
	}
	var label, kind []byte
	switch {
	case binary.LittleEndian.Uint16(b[22:24]) == 0 && b[66] == 0x29: // FAT32: no 16-bit FAT size
		label, kind = b[71:82], b[82:90]
	case b[38] == 0x29:
		label, kind = b[43:54], b[54:62]
	default:
		return Volume{}, false
	}
	if !bytes.HasPrefix(kind, []byte("FAT")) {
		return Volume{}, false
	}
	v := Volume{FSType: "vfat"}
	if l := strings.TrimRight(string(label), " \x00"); l != "" && l != "NO NAME" {
		v.Labels = append(v.Labels, l)
	}
	return v, true
}
