package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/diskfs/go-diskfs/partition/mbr"
	"golang.org/x/sys/unix"

	"github.com/keel-os/keel/internal/blockdev"
)

const (
	sector = 512
	// The partition starts at 1 MiB, as every partitioning tool aligns it.
	firstSector = 2048
	// wipeSize bytes are zeroed at both ends of the disk before the table
	// is written, so no stale GPT copy or filesystem signature survives.
	wipeSize = 1 << 20
)

// system is the real machine.
type system struct {
	sysRoot, devRoot string
	verbose          bool
}

func (s system) Devices() ([]blockdev.Device, error) { return blockdev.List(s.sysRoot, s.devRoot) }

func (s system) Describe(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	return blockdev.Describe(f)
}

func (system) Logf(format string, args ...any) { log.Printf(format, args...) }

func (s system) Debugf(format string, args ...any) {
	if s.verbose {
		log.Printf(format, args...)
	}
}

func (s system) Format(d blockdev.Device, o options) error {
	s.Logf("creating a %s partition table on %s", o.partition, d.Path)
	if err := partition(d.Path, o.partition); err != nil {
		return fmt.Errorf("partitioning %s: %w", d.Path, err)
	}
	part := filepath.Join(s.devRoot, blockdev.PartitionPath(d.Name, 1))
	if err := waitBlockDevice(part, 10*time.Second); err != nil {
		return err
	}
	s.Logf("making an %s filesystem on %s", o.fsType, part)
	args := []string{"-F", "-q", "-t", o.fsType}
	if o.label != "" {
		args = append(args, "-L", o.label)
	}
	out, err := exec.Command(mke2fs(), append(args, part)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mke2fs %s: %w: %s", part, err, strings.TrimSpace(string(out)))
	}
	s.Logf("%s is ready", part)
	return nil
}

// mke2fs finds Debian's mke2fs: PATH may not name /sbin in a container.
func mke2fs() string {
	if p, err := exec.LookPath("mke2fs"); err == nil {
		return p
	}
	return "/sbin/mke2fs"
}

// partition writes a table with one Linux partition spanning the disk and
// makes the kernel read it.
func partition(path, kind string) error {
	// O_EXCL on a block device fails while anything has it mounted.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_EXCL, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("reading its size: %w", err)
	}
	if err := writeTable(f, size, kind); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return rereadPartitions(f)
}

// writeTable wipes both ends of the disk file f of size bytes and writes
// the partition table.
func writeTable(f *os.File, size int64, kind string) error {
	if size < 4*wipeSize {
		return fmt.Errorf("the disk has %d bytes, want at least %d", size, 4*wipeSize)
	}
	zeros := make([]byte, wipeSize)
	for _, off := range []int64{0, size - wipeSize} {
		if _, err := f.WriteAt(zeros, off); err != nil {
			return fmt.Errorf("wiping the disk: %w", err)
		}
	}
	sectors := uint64(size / sector)
	switch kind {
	case "gpt":
		// The backup table takes the last 33 sectors; end on a MiB boundary.
		last := (sectors-34)/firstSector*firstSector - 1
		t := &gpt.Table{
			LogicalSectorSize: sector, PhysicalSectorSize: sector, ProtectiveMBR: true,
			Partitions: []*gpt.Partition{{Index: 1, Start: firstSector, End: last, Type: gpt.LinuxFilesystem, Name: "keel"}},
		}
		return t.Write(f, size)
	default:
		n := sectors - firstSector
		if n > 0xffffffff {
			return fmt.Errorf("the disk is larger than the 2 TiB an MBR partition can span: use -partition gpt")
		}
		t := &mbr.Table{
			LogicalSectorSize: sector, PhysicalSectorSize: sector,
			Partitions: []*mbr.Partition{{Type: mbr.Linux, Start: firstSector, Size: uint32(n)}},
		}
		return t.Write(f, size)
	}
}

// rereadPartitions asks the kernel to read the new table. Right after the
// write something may still hold the disk for a moment, so busy is
// retried.
func rereadPartitions(f *os.File) error {
	var err error
	for range 20 {
		if err = unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0); !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("the kernel did not re-read the partition table: %w", err)
	}
	return nil
}

// waitBlockDevice waits until devtmpfs shows the partition's node.
func waitBlockDevice(path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		st, err := os.Stat(path)
		if err == nil && st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("partition %s did not appear within %s", path, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
