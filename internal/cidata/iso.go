// Package cidata writes NoCloud seed images on the host: a small ISO 9660
// file system with Joliet names and the volume label "cidata", holding
// user-data, meta-data (and network-config), plus LinuxKit's "config" file,
// for `keel metadata create` and `keel run qemu --data`.
package cidata

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf16"
)

const sector = 2048

// Label is the volume label cloud-init and Keel's agent look for.
const Label = "cidata"

// Seed returns the files of a NoCloud seed: user-data (the raw userdata,
// also as LinuxKit's "config"), and meta-data with an instance id and, when
// given, the hostname.
func Seed(userdata []byte, instanceID, hostname string) map[string][]byte {
	if instanceID == "" {
		instanceID = "keel"
	}
	meta := fmt.Sprintf("instance-id: %q\n", instanceID)
	if hostname != "" {
		meta += fmt.Sprintf("local-hostname: %q\n", hostname)
	}
	return map[string][]byte{"user-data": userdata, "config": userdata, "meta-data": []byte(meta)}
}

// WriteISO writes an ISO 9660 image with a Joliet tree holding files (flat:
// names without slashes, at most 64 characters) and the volume label.
func WriteISO(w io.Writer, label string, files map[string][]byte) error {
	names := make([]string, 0, len(files))
	for n := range files {
		if n == "" || strings.ContainsAny(n, "/\x00") || len(n) > 64 {
			return fmt.Errorf("cidata: file name %q: want a plain name of at most 64 characters", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	if len(label) > 16 {
		return fmt.Errorf("cidata: label %q longer than 16 characters", label)
	}
	// Layout: 16 empty sectors, primary and Joliet descriptors, terminator,
	// four path tables, the two root directories, then file data.
	const (
		pvdLBA, svdLBA, termLBA      = 16, 17, 18
		lPath, mPath, jlPath, jmPath = 19, 20, 21, 22
		rootLBA, jrootLBA, dataLBA   = 23, 24, 25
	)
	type placed struct {
		name string
		lba  uint32
		size uint32
	}
	var ps []placed
	next := uint32(dataLBA)
	for _, n := range names {
		size := uint32(len(files[n]))
		ps = append(ps, placed{n, next, size})
		next += (size + sector - 1) / sector
		if size == 0 {
			next++ // keep every extent distinct
		}
	}
	total := next
	img := make([]byte, int(total)*sector)
	at := func(lba uint32) []byte { return img[int(lba)*sector : int(lba+1)*sector] }

	dir := func(lba uint32, joliet bool) error {
		b := at(lba)
		off := 0
		off += putRecord(b[off:], []byte{0}, lba, sector, true)
		off += putRecord(b[off:], []byte{1}, lba, sector, true)
		for _, p := range ps {
			var id []byte
			if joliet {
				id = ucs2(p.name)
			} else {
				id = []byte(strings.ToUpper(p.name) + ";1")
			}
			if off+33+len(id)+1 > sector {
				return fmt.Errorf("cidata: too many files for one directory sector")
			}
			off += putRecord(b[off:], id, p.lba, p.size, false)
		}
		return nil
	}
	if err := dir(rootLBA, false); err != nil {
		return err
	}
	if err := dir(jrootLBA, true); err != nil {
		return err
	}
	for _, p := range ps {
		copy(img[int(p.lba)*sector:], files[p.name])
	}
	pathTable := func(lba uint32, root uint32, big bool) {
		b := at(lba)
		b[0] = 1 // name length
		if big {
			binary.BigEndian.PutUint32(b[2:], root)
			binary.BigEndian.PutUint16(b[6:], 1)
		} else {
			binary.LittleEndian.PutUint32(b[2:], root)
			binary.LittleEndian.PutUint16(b[6:], 1)
		}
	}
	pathTable(lPath, rootLBA, false)
	pathTable(mPath, rootLBA, true)
	pathTable(jlPath, jrootLBA, false)
	pathTable(jmPath, jrootLBA, true)

	desc := func(lba uint32, typ byte, volID []byte, root, lp, mp uint32) {
		b := at(lba)
		b[0], b[6] = typ, 1
		copy(b[1:6], "CD001")
		fill(b[8:40], ' ')
		fill(b[40:72], ' ')
		if typ == 2 {
			for i := 8; i < 72; i += 2 {
				b[i], b[i+1] = 0, ' '
			}
			copy(b[88:91], "%/E") // Joliet, UCS-2 level 3
		}
		copy(b[40:72], volID)
		both32(b[80:], total)
		both16(b[120:], 1)
		both16(b[124:], 1)
		both16(b[128:], sector)
		both32(b[132:], 10) // path table size: one 10-byte root entry
		binary.LittleEndian.PutUint32(b[140:], lp)
		binary.BigEndian.PutUint32(b[148:], mp)
		putRecord(b[156:190], []byte{0}, root, sector, true)
		for _, r := range [][2]int{{190, 318}, {318, 446}, {446, 574}, {574, 702}, {702, 739}, {739, 776}, {776, 813}} {
			if typ == 2 {
				for i := r[0]; i+1 < r[1]; i += 2 {
					b[i], b[i+1] = 0, ' '
				}
			} else {
				fill(b[r[0]:r[1]], ' ')
			}
		}
		for _, o := range []int{813, 830, 847, 864} {
			fill(b[o:o+16], '0') // dates: "not specified"
		}
		b[881] = 1 // file structure version
	}
	desc(pvdLBA, 1, []byte(label), rootLBA, lPath, mPath)
	desc(svdLBA, 2, ucs2(label), jrootLBA, jlPath, jmPath)
	t := at(termLBA)
	t[0], t[6] = 255, 1
	copy(t[1:6], "CD001")
	_, err := io.Copy(w, bytes.NewReader(img))
	return err
}

// putRecord writes one directory record and returns its length.
func putRecord(b []byte, id []byte, lba, size uint32, isDir bool) int {
	n := 33 + len(id)
	if n%2 == 1 {
		n++
	}
	b[0] = byte(n)
	both32(b[2:], lba)
	both32(b[10:], size)
	copy(b[18:25], []byte{100, 1, 1, 0, 0, 0, 0}) // 2000-01-01, fixed for reproducible images
	if isDir {
		b[25] = 2
	}
	both16(b[28:], 1)
	b[32] = byte(len(id))
	copy(b[33:], id)
	return n
}

func both16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b, v)
	binary.BigEndian.PutUint16(b[2:], v)
}

func both32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
}

func fill(b []byte, c byte) {
	for i := range b {
		b[i] = c
	}
}

func ucs2(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.BigEndian.PutUint16(b[2*i:], c)
	}
	return b
}
