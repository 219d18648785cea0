// Package disk writes bootable disk images: raw-efi (GPT and an EFI system
// partition holding a UKI), raw-bios (MBR, a FAT partition and syslinux),
// and their conversions to qcow2, vhd and vmdk with qemu-img. Every image
// is reproducible: serials and GUIDs are derived from the contents.
package disk

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path"
	"sort"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
)

const (
	sector = 512
	mib    = 1 << 20
	// firstLBA is where the first partition starts (1 MiB, as partitioning
	// tools align it).
	firstLBA = mib / sector
	// minFAT is the smallest FAT32 file system: FAT32 needs at least 65525
	// clusters and firmware decides the FAT type by that count.
	minFAT = 40 * mib

	sourceDateEpoch = "SOURCE_DATE_EPOCH"
	// fatEpoch is 1980-01-01, the earliest date FAT can store.
	fatEpoch = "315532800"
)

// File is one file to put into a FAT file system: Src on the host, or Data.
type File struct {
	Src  string
	Data []byte
}

func (f File) size() (int64, error) {
	if f.Src == "" {
		return int64(len(f.Data)), nil
	}
	fi, err := os.Stat(f.Src)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (f File) open() (io.ReadCloser, error) {
	if f.Src == "" {
		return io.NopCloser(bytes.NewReader(f.Data)), nil
	}
	return os.Open(f.Src)
}

// fatSize is a FAT32 size with room for files: their size plus 5% and
// 2 MiB for the FATs and directories, in whole MiB, at least minFAT.
func fatSize(files map[string]File) (int64, error) {
	var n int64
	for name, f := range files {
		s, err := f.size()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		n += s
	}
	n += n/20 + 2*mib
	return max(roundMiB(n), minFAT), nil
}

// roundMiB rounds n up to whole MiB: partitions stay aligned and clouds
// that take VHDs want whole MiB.
func roundMiB(n int64) int64 { return (n + mib - 1) / mib * mib }

// diskSize is the size of a disk image asked to be size bytes (0: just
// large enough) that needs min bytes for what it holds.
func diskSize(size, min int64, what string) (int64, error) {
	if size == 0 {
		size = min
	}
	size = roundMiB(size)
	if size < min {
		return 0, fmt.Errorf("disk size %d MiB is too small for %s: give --size %dM or more", size/mib, what, (min+mib-1)/mib)
	}
	return size, nil
}

// create makes a fresh image file of size bytes at path.
func create(path string, size int64) (*disk.Disk, error) {
	os.Remove(path)
	d, err := diskfs.Create(path, size, diskfs.SectorSizeDefault)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", path, err)
	}
	return d, nil
}

// fillFAT creates a FAT32 file system on partition part of d (0: the whole
// image) and copies files into it, in name order so the layout is the same
// on every build.
func fillFAT(d *disk.Disk, part int, label string, files map[string]File) error {
	// go-diskfs stamps FAT directory entries with SOURCE_DATE_EPOCH when
	// it is set (the reproducible-builds convention) and with the clock
	// otherwise; a caller's own value wins.
	if os.Getenv(sourceDateEpoch) == "" {
		os.Setenv(sourceDateEpoch, fatEpoch)
		defer os.Unsetenv(sourceDateEpoch)
	}
	fs, err := d.CreateFilesystem(disk.FilesystemSpec{Partition: part, FSType: filesystem.TypeFat32, VolumeLabel: label, Reproducible: true})
	if err != nil {
		return fmt.Errorf("creating FAT file system: %w", err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if dir := path.Dir(name); dir != "/" {
			if err := fs.Mkdir(dir); err != nil {
				return fmt.Errorf("creating %s: %w", dir, err)
			}
		}
		if err := copyIn(fs, name, files[name]); err != nil {
			return err
		}
	}
	return nil
}

func copyIn(fs filesystem.FileSystem, name string, f File) error {
	in, err := f.open()
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := fs.OpenFile(name, os.O_CREATE|os.O_RDWR)
	if err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	// go-diskfs rewrites the whole FAT on every Write: few large writes
	// make a 100 MB file take a second instead of a minute. (The struct
	// hides the reader's WriteTo, which would use 32 KiB writes.)
	if _, err := io.CopyBuffer(out, struct{ io.Reader }{in}, make([]byte, 16<<20)); err != nil {
		out.Close()
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return out.Close()
}

// FATImage writes a partitionless FAT32 image holding files to path: the
// EFI boot image an ISO's El Torito EFI entry points to.
func FATImage(path, label string, files map[string]File) error {
	size, err := fatSize(files)
	if err != nil {
		return err
	}
	d, err := create(path, size)
	if err != nil {
		return err
	}
	defer d.Close()
	return fillFAT(d, 0, label, files)
}

// contentID hashes the files' names and contents: the source of every
// serial number and GUID, so equal inputs give equal images.
func contentID(files map[string]File) ([32]byte, error) {
	h := sha256.New()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00", n)
		r, err := files[n].open()
		if err != nil {
			return [32]byte{}, err
		}
		_, err = io.Copy(h, r)
		r.Close()
		if err != nil {
			return [32]byte{}, err
		}
	}
	var id [32]byte
	copy(id[:], h.Sum(nil))
	return id, nil
}
