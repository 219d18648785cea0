package iso

import (
	"archive/tar"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
)

// Tree collects a root file system as tar-described entries and writes it
// as an ISO 9660 file system with Rock Ridge (RRIP 1.12, IEEE P1282), which carries
// every name, mode, owner, link and device node from the entries, not
// from the build machine: keel build's kernel+iso root. It implements
// rootfs.Writer and keeps hard links. go-diskfs makes an ISO of a host
// folder, whose owners an unprivileged build cannot set, hence this
// writer.
//
// File data is spooled to a temporary file; the tree, sized by its
// entries, stays in memory. A later entry replaces an earlier one of the
// same name, as in the initrd. Times are the epoch, inode numbers count
// up in entry order, and ISO 9660 names (which Linux ignores when Rock
// Ridge names a file) are the entry's index in its folder: two writes of
// the same entries give the same bytes.
type Tree struct {
	spool   *os.File
	end     int64
	root    *node
	byName  map[string]*node
	nextIno uint32
}

type node struct {
	name     string
	hdr      tar.Header
	children map[string]*node
	data     *fileData // regular files (shared by hard links)
	ino      uint32
	// set while laying out
	lba, size uint32
	isoName   string
	parentNum uint16
}

type fileData struct {
	off, size int64
	lba       uint32
	nlink     uint32
	ino       uint32
}

// maxFileSize is the largest file one ISO 9660 extent holds.
const maxFileSize = 1<<32 - blockSize

// NewTree starts a tree, spooling file data in dir ("" is the system's
// temporary directory). Close releases the spool.
func NewTree(dir string) (*Tree, error) {
	f, err := os.CreateTemp(dir, "keel-iso-*.data")
	if err != nil {
		return nil, fmt.Errorf("creating ISO spool: %w", err)
	}
	os.Remove(f.Name()) // the descriptor keeps the data
	root := &node{hdr: tar.Header{Typeflag: tar.TypeDir, Mode: 0o755}, children: map[string]*node{}, ino: 1}
	return &Tree{spool: f, root: root, byName: map[string]*node{"": root}, nextIno: 2}, nil
}

// HardLinks reports that the tree stores hard links.
func (t *Tree) HardLinks() bool { return true }

// Close releases the spool.
func (t *Tree) Close() error { return t.spool.Close() }

// WriteEntry adds one entry. Only regular files read body. Parents must
// have been written first, as rootfs.WriteAll does.
func (t *Tree) WriteEntry(h *tar.Header, body io.Reader) error {
	name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
	if name == "" {
		return nil // the root's mode is fixed: 0755, root's
	}
	parent := t.root
	if d := path.Dir(name); d != "." {
		parent = t.byName[d]
	}
	if parent == nil || parent.children == nil {
		return fmt.Errorf("ISO root: %s: its folder was not written before it", name)
	}
	n := &node{name: path.Base(name), hdr: *h}
	if len(n.name) > 255 {
		return fmt.Errorf("ISO root: %s: a name is at most 255 bytes", name)
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if old, ok := parent.children[n.name]; ok && old.children != nil {
			old.hdr = *h // a directory written again keeps its content
			return nil
		}
		n.children = map[string]*node{}
	case tar.TypeReg:
		if h.Size > maxFileSize {
			return fmt.Errorf("ISO root: %s is %d bytes, more than one ISO 9660 extent holds (4 GiB)", name, h.Size)
		}
		n.data = &fileData{off: t.end, size: h.Size, nlink: 1, ino: t.nextIno}
		t.nextIno++
		m, err := io.CopyN(t.spool, body, h.Size)
		t.end += m
		if err != nil {
			return fmt.Errorf("ISO root: %s: %w", name, err)
		}
	case tar.TypeLink:
		target := t.byName[strings.TrimPrefix(path.Clean("/"+h.Linkname), "/")]
		if target == nil || target.data == nil {
			return fmt.Errorf("ISO root: hard link %s: target %s is not a file written before it", name, h.Linkname)
		}
		n.data = target.data
		n.data.nlink++
		n.hdr.Typeflag, n.hdr.Mode, n.hdr.Uid, n.hdr.Gid = tar.TypeReg, target.hdr.Mode, target.hdr.Uid, target.hdr.Gid
	case tar.TypeSymlink:
		if len(h.Linkname) > maxSymlink {
			return fmt.Errorf("ISO root: symlink %s: target of %d bytes, at most %d", name, len(h.Linkname), maxSymlink)
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return fmt.Errorf("ISO root: %s: entry type %q is not supported", name, h.Typeflag)
	}
	if n.data == nil {
		n.ino = t.nextIno
		t.nextIno++
	}
	if old, ok := parent.children[n.name]; ok {
		t.forget(name, old)
	}
	parent.children[n.name] = n
	t.byName[name] = n
	return nil
}

// forget drops the names below a replaced node.
func (t *Tree) forget(name string, old *node) {
	if old.data != nil {
		old.data.nlink--
	}
	for c, n := range old.children {
		child := name + "/" + c
		delete(t.byName, child)
		t.forget(child, n)
	}
}

// WriteTo lays the tree out and writes the ISO image to w.
func (t *Tree) WriteTo(w io.Writer) (int64, error) {
	l := &isoLayout{}
	if err := l.plan(t.root); err != nil {
		return 0, err
	}
	cw := &countWriter{w: w}
	err := l.write(cw, t)
	return cw.n, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// maxSymlink bounds a symlink target so its Rock Ridge entries fit one
// continuation block with the rest of the file's.
const maxSymlink = 1500

// isoLayout is where everything goes, in sectors.
type isoLayout struct {
	dirs      []*node // breadth first, children by ISO name
	files     []*fileData
	pathTable []byte // little-endian (L) table; the M table is derived
	ptLBA     uint32
	ptSectors uint32
	ce        map[*node][]byte // continuation areas
	ceAt      map[*node][2]uint32
	ceOrder   []*node
	ceLBA     uint32
	ceSectors uint32
	total     uint32
}

func sectors(n int64) uint32 { return uint32((n + blockSize - 1) / blockSize) }

// sortedChildren lists a directory's children by name, naming each for
// ISO 9660 by its index.
func sortedChildren(d *node) []*node {
	names := make([]string, 0, len(d.children))
	for n := range d.children {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*node, len(names))
	for i, n := range names {
		c := d.children[n]
		if c.children != nil {
			c.isoName = fmt.Sprintf("%06X", i)
		} else {
			c.isoName = fmt.Sprintf("%06X.;1", i)
		}
		out[i] = c
	}
	return out
}

func (l *isoLayout) plan(root *node) error {
	l.ce, l.ceAt = map[*node][]byte{}, map[*node][2]uint32{}
	l.dirs = []*node{root}
	root.isoName = "\x00"
	seenData := map[*fileData]bool{}
	for i := 0; i < len(l.dirs); i++ {
		d := l.dirs[i]
		if i > 0xfffe {
			return errors.New("ISO root: more than 65534 folders")
		}
		for _, c := range sortedChildren(d) {
			if c.children != nil {
				c.parentNum = uint16(i + 1)
				l.dirs = append(l.dirs, c)
			} else if c.data != nil && !seenData[c.data] {
				seenData[c.data] = true
				l.files = append(l.files, c.data)
			}
		}
	}
	// Path table (little-endian form).
	for _, d := range l.dirs {
		name := d.isoName
		rec := make([]byte, 8+len(name)+len(name)%2)
		rec[0] = byte(len(name))
		binary.LittleEndian.PutUint16(rec[6:], max(d.parentNum, 1))
		copy(rec[8:], name)
		l.pathTable = append(l.pathTable, rec...)
	}
	l.ptLBA = 18
	l.ptSectors = sectors(int64(len(l.pathTable)))
	next := l.ptLBA + 2*l.ptSectors
	// Directory extents, sized with placeholder locations.
	for _, d := range l.dirs {
		recs, err := l.dirRecords(d, true)
		if err != nil {
			return err
		}
		d.size = packedSize(recs)
		d.lba = next
		next += d.size / blockSize
	}
	// Continuation areas, each within one sector.
	l.ceLBA = next
	off := uint32(0)
	for _, n := range l.ceOrder {
		size := uint32(len(l.ce[n]))
		if off%blockSize+size > blockSize {
			off += blockSize - off%blockSize
		}
		l.ceAt[n] = [2]uint32{l.ceLBA + off/blockSize, off % blockSize}
		off += size
	}
	l.ceSectors = sectors(int64(off))
	next += l.ceSectors
	for _, f := range l.files {
		if f.size == 0 {
			continue
		}
		f.lba = next
		next += sectors(f.size)
	}
	l.total = next
	return nil
}

// packedSize is the size of a directory extent holding recs: a record
// never crosses a sector boundary.
func packedSize(recs [][]byte) uint32 {
	off := uint32(0)
	for _, r := range recs {
		if off%blockSize+uint32(len(r)) > blockSize {
			off += blockSize - off%blockSize
		}
		off += uint32(len(r))
	}
	return sectors(int64(off)) * blockSize
}

// dirRecords makes the records of directory d: ".", "..", then the
// children. sizing records the continuation areas (their locations are
// not known yet).
func (l *isoLayout) dirRecords(d *node, sizing bool) ([][]byte, error) {
	parent := d
	if d.parentNum > 0 {
		parent = l.dirs[d.parentNum-1]
	}
	// "." carries the folder's attributes (Linux reads the root's from
	// it), not its name.
	unnamed := *d
	unnamed.name = ""
	self := susp(&unnamed)
	if d == l.dirs[0] {
		self = append([][]byte{spEntry()}, append(self, erEntry())...)
	}
	recs := [][]byte{
		l.record(d, "\x00", self, sizing),
		l.record(parent, "\x01", nil, sizing),
	}
	for _, c := range sortedChildren(d) {
		recs = append(recs, l.record(c, c.isoName, susp(c), sizing))
	}
	for _, c := range d.children {
		if len(l.ce[c]) > blockSize {
			return nil, fmt.Errorf("ISO root: %s: its Rock Ridge entries do not fit one continuation block", c.name)
		}
	}
	return recs, nil
}

// record makes one directory record of n named name (ISO 9660), with the
// System Use entries entries; those that do not fit go to n's
// continuation area.
func (l *isoLayout) record(n *node, name string, entries [][]byte, sizing bool) []byte {
	base := 33 + len(name)
	if len(name)%2 == 0 {
		base++
	}
	const ceLen = 28
	room := 254 - base // records are even and at most 255 bytes
	var inline, rest []byte
	total := 0
	for _, e := range entries {
		total += len(e)
	}
	for i, e := range entries {
		if total <= room || len(inline)+len(e) <= room-ceLen && rest == nil {
			inline = append(inline, e...)
			continue
		}
		for _, r := range entries[i:] {
			rest = append(rest, r...)
		}
		break
	}
	if rest != nil {
		if sizing && name != "\x00" {
			if _, ok := l.ce[n]; !ok {
				l.ceOrder = append(l.ceOrder, n)
			}
			l.ce[n] = rest
		}
		at := l.ceAt[n]
		ce := make([]byte, ceLen)
		copy(ce, "CE")
		ce[2], ce[3] = ceLen, 1
		both32(ce[4:], at[0])
		both32(ce[12:], at[1])
		both32(ce[20:], uint32(len(rest)))
		inline = append(inline, ce...)
	}
	recLen := base + len(inline)
	recLen += recLen % 2
	r := make([]byte, recLen)
	r[0] = byte(recLen)
	var lba, size uint32
	flags := byte(0)
	switch {
	case n.children != nil:
		lba, size, flags = n.lba, n.size, 2
	case n.data != nil:
		lba, size = n.data.lba, uint32(n.data.size)
	}
	both32(r[2:], lba)
	both32(r[10:], size)
	copy(r[18:25], isoDate)
	r[25] = flags
	both16(r[28:], 1)
	r[32] = byte(len(name))
	copy(r[33:], name)
	copy(r[base:], inline)
	return r
}

// isoDate is 1970-01-01 00:00:00 UTC in a directory record.
var isoDate = []byte{70, 1, 1, 0, 0, 0, 0}

func both16(b []byte, v uint16) {
	binary.LittleEndian.PutUint16(b, v)
	binary.BigEndian.PutUint16(b[2:], v)
}

func both32(b []byte, v uint32) {
	binary.LittleEndian.PutUint32(b, v)
	binary.BigEndian.PutUint32(b[4:], v)
}

// write writes the image laid out by plan.
func (l *isoLayout) write(w io.Writer, t *Tree) error {
	pad := func(n int64) error {
		_, err := w.Write(make([]byte, n))
		return err
	}
	if err := pad(16 * blockSize); err != nil {
		return err
	}
	root, err := l.dirRecords(l.dirs[0], false)
	if err != nil {
		return err
	}
	if _, err := w.Write(l.pvd(root[0])); err != nil {
		return err
	}
	term := make([]byte, blockSize)
	term[0] = 255
	copy(term[1:], "CD001\x01")
	if _, err := w.Write(term); err != nil {
		return err
	}
	lt := l.pathTableFor(l.dirs, false)
	mt := l.pathTableFor(l.dirs, true)
	for _, table := range [][]byte{lt, mt} {
		sec := make([]byte, l.ptSectors*blockSize)
		copy(sec, table)
		if _, err := w.Write(sec); err != nil {
			return err
		}
	}
	for _, d := range l.dirs {
		recs, err := l.dirRecords(d, false)
		if err != nil {
			return err
		}
		ext := make([]byte, d.size)
		off := 0
		for _, r := range recs {
			if off%blockSize+len(r) > blockSize {
				off += blockSize - off%blockSize
			}
			copy(ext[off:], r)
			off += len(r)
		}
		if _, err := w.Write(ext); err != nil {
			return err
		}
	}
	ce := make([]byte, l.ceSectors*blockSize)
	for _, n := range l.ceOrder {
		at := l.ceAt[n]
		copy(ce[(at[0]-l.ceLBA)*blockSize+at[1]:], l.ce[n])
	}
	if _, err := w.Write(ce); err != nil {
		return err
	}
	for _, f := range l.files {
		if f.size == 0 {
			continue
		}
		if _, err := io.Copy(w, io.NewSectionReader(t.spool, f.off, f.size)); err != nil {
			return fmt.Errorf("writing ISO root: %w", err)
		}
		if rem := f.size % blockSize; rem != 0 {
			if err := pad(blockSize - rem); err != nil {
				return err
			}
		}
	}
	return nil
}

// pathTableFor is the path table with each directory's location, in
// little-endian (L) or big-endian (M) form.
func (l *isoLayout) pathTableFor(dirs []*node, big bool) []byte {
	out := make([]byte, 0, len(l.pathTable))
	for _, d := range dirs {
		name := d.isoName
		rec := make([]byte, 8+len(name)+len(name)%2)
		rec[0] = byte(len(name))
		parent := max(d.parentNum, 1)
		if big {
			binary.BigEndian.PutUint32(rec[2:], d.lba)
			binary.BigEndian.PutUint16(rec[6:], parent)
		} else {
			binary.LittleEndian.PutUint32(rec[2:], d.lba)
			binary.LittleEndian.PutUint16(rec[6:], parent)
		}
		copy(rec[8:], name)
		out = append(out, rec...)
	}
	return out
}

// pvd is the primary volume descriptor; rootRec is the root's "."
// record, whose first 34 bytes (without System Use) it carries.
func (l *isoLayout) pvd(rootRec []byte) []byte {
	p := make([]byte, blockSize)
	p[0] = 1
	copy(p[1:], "CD001\x01")
	fill := func(at, n int, s string) {
		copy(p[at:at+n], s+strings.Repeat(" ", n-len(s)))
	}
	fill(8, 32, "LINUX")
	fill(40, 32, RootLabel)
	both32(p[80:], l.total)
	both16(p[120:], 1)
	both16(p[124:], 1)
	both16(p[128:], blockSize)
	both32(p[132:], uint32(len(l.pathTable)))
	binary.LittleEndian.PutUint32(p[140:], l.ptLBA)
	binary.BigEndian.PutUint32(p[148:], l.ptLBA+l.ptSectors)
	copy(p[156:190], rootRec[:34])
	p[156] = 34
	for _, f := range [][2]int{{190, 128}, {318, 128}, {446, 128}, {574, 128}, {702, 37}, {739, 37}, {776, 37}} {
		fill(f[0], f[1], "")
	}
	for _, at := range []int{813, 830, 864} {
		copy(p[at:], "1970010100000000")
	}
	copy(p[847:], "0000000000000000")
	p[881] = 1
	return p
}

// RootLabel is the volume identifier of a kernel+iso root.
const RootLabel = "KEEL_ROOT"
