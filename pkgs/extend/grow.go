package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

const (
	sector = 512
	// align: partition ends are kept on 1 MiB boundaries, as partitioning
	// tools (and Keel's format package) place them.
	align = 2048
)

// errNothingToDo says a disk is left alone; the message says why.
type errNothingToDo struct{ why string }

func (e errNothingToDo) Error() string { return e.why }

// growth is what grow did: partition n now spans from..to sectors.
type growth struct {
	label    string // dos or gpt
	n        int    // partition number
	from, to uint64 // its size in sectors, before and after
}

// grow rewrites the partition table of d so that its only partition, a
// Linux one, ends at the end of the disk (for GPT, before the backup
// table, which moves to the new end); without write it only says what it
// would do. It changes nothing and returns an
// errNothingToDo when the disk has no table, more than one partition, a
// partition of another type, or less than 1 MiB to gain: as LinuxKit's
// extend, it grows single-partition disks only.
func grow(d *os.File, write bool) (growth, error) {
	size, err := d.Seek(0, io.SeekEnd)
	if err != nil {
		return growth{}, fmt.Errorf("finding the disk's size: %w", err)
	}
	sectors := uint64(size) / sector
	if t, err := gpt.Read(d, sector, sector); err == nil {
		return growGPT(d, t, size, sectors, write)
	}
	t, err := mbr.Read(d, sector, sector)
	if err != nil {
		return growth{}, errNothingToDo{"no partition table found"}
	}
	var parts []*mbr.Partition
	for _, p := range t.Partitions {
		if p != nil && p.Type != mbr.Empty {
			parts = append(parts, p)
		}
	}
	if len(parts) != 1 {
		return growth{}, errNothingToDo{fmt.Sprintf("the disk has %d partitions, want 1", len(parts))}
	}
	p := parts[0]
	if p.Type == mbr.Type(0xee) {
		return growth{}, errors.New("a protective MBR without a readable GPT: the GPT is damaged")
	}
	if p.Type != mbr.Linux {
		return growth{}, errNothingToDo{fmt.Sprintf("the partition has type %#02x, not Linux (0x83)", uint8(p.Type))}
	}
	end := sectors
	if end-uint64(p.Start) > 0xffffffff {
		end = uint64(p.Start) + 0xffffffff // the most an MBR entry can say
	}
	newSize := end - uint64(p.Start)
	if newSize < uint64(p.Size)+align {
		return growth{}, errNothingToDo{"no free space after the partition"}
	}
	g := growth{label: "dos", n: 1, from: uint64(p.Size), to: newSize}
	for i, q := range t.Partitions {
		if q == p {
			g.n = i + 1
		}
	}
	if !write {
		return g, nil
	}
	p.Size = uint32(newSize)
	if err := t.Write(d, size); err != nil {
		return growth{}, fmt.Errorf("writing the partition table: %w", err)
	}
	return g, nil
}

func growGPT(d *os.File, t *gpt.Table, size int64, sectors uint64, write bool) (growth, error) {
	var parts []*gpt.Partition
	for _, p := range t.Partitions {
		if p != nil && p.Type != gpt.Unused {
			parts = append(parts, p)
		}
	}
	if len(parts) != 1 {
		return growth{}, errNothingToDo{fmt.Sprintf("the disk has %d partitions, want 1", len(parts))}
	}
	p := parts[0]
	if p.Type != gpt.LinuxFilesystem {
		return growth{}, errNothingToDo{fmt.Sprintf("the partition has type %s, not Linux filesystem", p.Type)}
	}
	// The backup table takes the last 33 sectors.
	if sectors < 34+align {
		return growth{}, errNothingToDo{"the disk is too small"}
	}
	last := (sectors-34)/align*align - 1
	if last < p.End+align {
		return growth{}, errNothingToDo{"no free space after the partition"}
	}
	g := growth{label: "gpt", n: p.Index, from: p.End - p.Start + 1, to: last - p.Start + 1}
	if !write {
		return g, nil
	}
	t.Resize(uint64(size))
	p.End = last
	p.Size = (last - p.Start + 1) * sector
	if err := t.Write(d, size); err != nil {
		return growth{}, fmt.Errorf("writing the partition table: %w", err)
	}
	return g, nil
}
