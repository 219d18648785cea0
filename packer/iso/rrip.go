package iso

import (
	"archive/tar"
	"strings"
)

// The Rock Ridge (RRIP 1.12) and System Use Sharing Protocol entries of
// Tree's directory records.

// The POSIX file type bits Rock Ridge's PX entry carries in its mode.
const (
	sIFIFO = 0o010000
	sIFCHR = 0o020000
	sIFDIR = 0o040000
	sIFBLK = 0o060000
	sIFREG = 0o100000
	sIFLNK = 0o120000
)

// susp makes n's Rock Ridge entries: PX, TF, PN for devices, NM, SL for
// symlinks.
func susp(n *node) [][]byte {
	mode := uint32(n.hdr.Mode) & 0o7777
	nlink, ino := uint32(1), n.ino
	switch n.hdr.Typeflag {
	case tar.TypeDir:
		mode |= sIFDIR
		nlink = 2
		for _, c := range n.children {
			if c.children != nil {
				nlink++
			}
		}
	case tar.TypeSymlink:
		mode = sIFLNK | 0o777 // as Linux shows every symlink
	case tar.TypeChar:
		mode |= sIFCHR
	case tar.TypeBlock:
		mode |= sIFBLK
	case tar.TypeFifo:
		mode |= sIFIFO
	default:
		mode |= sIFREG
		if n.data != nil {
			nlink, ino = n.data.nlink, n.data.ino
		}
	}
	px := entry("PX", 40)
	both32(px[4:], mode)
	both32(px[12:], nlink)
	both32(px[20:], uint32(n.hdr.Uid))
	both32(px[28:], uint32(n.hdr.Gid))
	both32(px[36:], ino)
	// Modification, access and attribute change times, all the epoch.
	tf := entry("TF", 1+3*7)
	tf[4] = 0x0e
	for i := 0; i < 3; i++ {
		copy(tf[5+7*i:], isoDate)
	}
	out := [][]byte{px, tf}
	if n.hdr.Typeflag == tar.TypeChar || n.hdr.Typeflag == tar.TypeBlock {
		pn := entry("PN", 16)
		both32(pn[4:], uint32(n.hdr.Devmajor))
		both32(pn[12:], uint32(n.hdr.Devminor))
		out = append(out, pn)
	}
	if n.name != "" {
		out = append(out, nmEntries(n.name)...)
	}
	if n.hdr.Typeflag == tar.TypeSymlink {
		out = append(out, slEntries(n.hdr.Linkname)...)
	}
	return out
}

// entry makes a System Use entry of signature sig with size bytes of data.
func entry(sig string, size int) []byte {
	e := make([]byte, 4+size)
	copy(e, sig)
	e[2], e[3] = byte(4+size), 1
	return e
}

// nmEntries names a file, in pieces of at most 250 bytes (flag 1: the
// name continues in the next NM).
func nmEntries(name string) [][]byte {
	var out [][]byte
	for len(name) > 0 {
		piece := name[:min(len(name), 250)]
		name = name[len(piece):]
		e := entry("NM", 1+len(piece))
		if len(name) > 0 {
			e[4] = 1
		}
		copy(e[5:], piece)
		out = append(out, e)
	}
	return out
}

// slEntries records a symlink's target as components (root, ".", "..",
// names in pieces of at most 248 bytes), in SL entries of at most 255
// bytes (flag 1: the target continues in the next SL).
func slEntries(target string) [][]byte {
	var comps [][]byte
	if strings.HasPrefix(target, "/") {
		comps = append(comps, []byte{0x08, 0})
	}
	for _, c := range strings.Split(strings.Trim(target, "/"), "/") {
		switch c {
		case "":
		case ".":
			comps = append(comps, []byte{0x02, 0})
		case "..":
			comps = append(comps, []byte{0x04, 0})
		default:
			for len(c) > 0 {
				piece := c[:min(len(c), 248)]
				c = c[len(piece):]
				flag := byte(0)
				if len(c) > 0 {
					flag = 1
				}
				comps = append(comps, append([]byte{flag, byte(len(piece))}, piece...))
			}
		}
	}
	var out [][]byte
	cur := []byte(nil)
	flush := func(more bool) {
		e := entry("SL", 1+len(cur))
		if more {
			e[4] = 1
		}
		copy(e[5:], cur)
		out = append(out, e)
		cur = nil
	}
	for _, c := range comps {
		if 5+len(cur)+len(c) > 255 {
			flush(true)
		}
		cur = append(cur, c...)
	}
	flush(false)
	return out
}

// spEntry marks the System Use Sharing Protocol in the root's "." record.
func spEntry() []byte {
	e := entry("SP", 3)
	e[4], e[5] = 0xbe, 0xef
	return e
}

// erEntry names the Rock Ridge extension in the root's "." record.
func erEntry() []byte {
	// RRIP 1.12's name: its PX carries the inode number (RRIP 1.10,
	// "RRIP_1991A", has none).
	const id, des, src = "IEEE_P1282", "THE IEEE P1282 PROTOCOL", "KEEL"
	e := entry("ER", 4+len(id)+len(des)+len(src))
	e[4], e[5], e[6], e[7] = byte(len(id)), byte(len(des)), byte(len(src)), 1
	copy(e[8:], id+des+src)
	return e
}
