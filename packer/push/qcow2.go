package push

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// qcow2Magic starts every qcow2 file.
const qcow2Magic = "QFI\xfb"

// qcow2Reader reads a qcow2 image's guest disk from its start, through
// the image's two-level cluster tables, as far as maxTableBytes: enough
// for detectBootMode to find the partition table. Clusters not allocated
// read as zeros.
type qcow2Reader struct {
	f           io.ReaderAt
	clusterBits uint32
	l1Offset    uint64
	l1Size      uint32
	size        uint64
	pos         uint64
}

// newQcow2Reader checks the header of a qcow2 image and refuses what keel
// cannot read or a cloud cannot boot alone: a backing file, encryption,
// an external data file.
func newQcow2Reader(f io.ReaderAt) (*qcow2Reader, error) {
	h := make([]byte, 104)
	if _, err := f.ReadAt(h[:72], 0); err != nil {
		return nil, fmt.Errorf("read the qcow2 header: %w", err)
	}
	if string(h[:4]) != qcow2Magic {
		return nil, errors.New("not a qcow2 image")
	}
	version := binary.BigEndian.Uint32(h[4:])
	if version != 2 && version != 3 {
		return nil, fmt.Errorf("qcow2 version %d: want 2 or 3", version)
	}
	if binary.BigEndian.Uint64(h[8:]) != 0 {
		return nil, errors.New("the qcow2 image has a backing file: make a whole one with qemu-img convert -O qcow2")
	}
	if binary.BigEndian.Uint32(h[32:]) != 0 {
		return nil, errors.New("the qcow2 image is encrypted: a cloud cannot boot it")
	}
	if version == 3 {
		if _, err := f.ReadAt(h[72:80], 72); err != nil {
			return nil, fmt.Errorf("read the qcow2 header: %w", err)
		}
		if incompat := binary.BigEndian.Uint64(h[72:]); incompat&^1 != 0 {
			return nil, fmt.Errorf("the qcow2 image uses features keel does not read (incompatible features %#x: an external data file or another compression): convert it with qemu-img convert -O qcow2", incompat)
		}
	}
	r := &qcow2Reader{
		f:           f,
		clusterBits: binary.BigEndian.Uint32(h[20:]),
		size:        binary.BigEndian.Uint64(h[24:]),
		l1Size:      binary.BigEndian.Uint32(h[36:]),
		l1Offset:    binary.BigEndian.Uint64(h[40:]),
	}
	if r.clusterBits < 9 || r.clusterBits > 21 {
		return nil, fmt.Errorf("qcow2 cluster size 2^%d is out of range", r.clusterBits)
	}
	return r, nil
}

const qcow2OffsetMask = 0x00fffffffffffe00

func (r *qcow2Reader) Read(p []byte) (int, error) {
	end := min(r.size, maxTableBytes)
	if r.pos >= end {
		return 0, io.EOF
	}
	cs := uint64(1) << r.clusterBits
	in := r.pos & (cs - 1)
	n := min(uint64(len(p)), cs-in, end-r.pos)
	host, err := r.hostCluster(r.pos >> r.clusterBits)
	if err != nil {
		return 0, err
	}
	if host == 0 {
		clear(p[:n])
	} else if _, err := r.f.ReadAt(p[:n], int64(host+in)); err != nil {
		return 0, fmt.Errorf("read qcow2 cluster at %d: %w", host, err)
	}
	r.pos += n
	return int(n), nil
}

// hostCluster is where guest cluster ci is in the file, or 0 when it
// reads as zeros.
func (r *qcow2Reader) hostCluster(ci uint64) (uint64, error) {
	perL2 := uint64(1) << (r.clusterBits - 3)
	l1i := ci / perL2
	if l1i >= uint64(r.l1Size) {
		return 0, nil
	}
	l1, err := r.entry(r.l1Offset + 8*l1i)
	if err != nil {
		return 0, err
	}
	if l1&qcow2OffsetMask == 0 {
		return 0, nil
	}
	l2, err := r.entry(l1&qcow2OffsetMask + 8*(ci%perL2))
	if err != nil {
		return 0, err
	}
	switch {
	case l2&(1<<62) != 0:
		return 0, errors.New("the qcow2 image is compressed: keel reads its partition table from plain clusters only; convert it without -c")
	case l2&1 != 0:
		return 0, nil
	}
	return l2 & qcow2OffsetMask, nil
}

func (r *qcow2Reader) entry(at uint64) (uint64, error) {
	var b [8]byte
	if _, err := r.f.ReadAt(b[:], int64(at)); err != nil {
		return 0, fmt.Errorf("read qcow2 table entry at %d: %w", at, err)
	}
	return binary.BigEndian.Uint64(b[:]), nil
}

// diskImage reads what Glance needs to know of a disk image file: its
// format (qcow2 by its magic, vhd by a fixed VHD's footer, else raw) and
// its boot mode.
func diskImage(path string) (format string, mode BootMode, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	var magic [4]byte
	if _, err := io.ReadFull(f, magic[:]); err != nil {
		return "", "", fmt.Errorf("%s is too short for a disk image", path)
	}
	var r io.Reader = io.NewSectionReader(f, 0, maxTableBytes)
	format = "raw"
	if string(magic[:]) == qcow2Magic {
		q, err := newQcow2Reader(f)
		if err != nil {
			return "", "", fmt.Errorf("%s: %w", path, err)
		}
		r, format = q, "qcow2"
	} else if fi, err := f.Stat(); err == nil && fi.Size() > vhdFooterSize {
		foot := make([]byte, vhdFooterSize)
		if _, err := f.ReadAt(foot, fi.Size()-vhdFooterSize); err == nil && string(foot[:8]) == "conectix" {
			// Only a fixed VHD holds the disk from its start, where the
			// partition table is read.
			if binary.BigEndian.Uint32(foot[60:]) != vhdFixed {
				return "", "", fmt.Errorf("%s is a dynamic or differencing VHD: push the qcow2 or raw image instead", path)
			}
			format = "vhd"
		}
	}
	if mode, err = detectBootMode(r); err != nil {
		return "", "", fmt.Errorf("%s: %w (OpenStack takes -format qcow2-bios, qcow2-efi, raw-bios or raw-efi)", path, err)
	}
	return format, mode, nil
}
