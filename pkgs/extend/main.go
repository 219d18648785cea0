// Command extend grows a disk's last partition and its ext4 filesystem to
// fill a disk that was made bigger, with the path and command line of
// LinuxKit's extend package:
//
//	extend [-type ext4] [DISK...]
//
// With no DISK it looks at every disk the kernel lists (not loop, RAM,
// network, optical or device-mapper devices). A disk is grown when its
// partition table (MBR or GPT) holds exactly one partition, of Linux type,
// with at least 1 MiB of free space after it; any other disk is left
// alone with a line saying why. The filesystem is checked (e2fsck) before
// and after resize2fs, as LinuxKit does. Run it as an onboot container
// before anything mounts the disk.
package main

import (
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keel-os/keel/internal/blockdev"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("extend: ")
	fsType := flag.String("type", "ext4", "the filesystem on the partition (ext4; LinuxKit's btrfs and xfs need tools this package leaves out)")
	flag.Parse()
	if *fsType != "ext4" {
		log.Fatalf("-type %s: this package grows ext4 only (resize2fs); btrfs and xfs would need Debian's btrfs-progs or xfsprogs in the image", *fsType)
	}
	disks := flag.Args()
	auto := len(disks) == 0
	if auto {
		devs, err := blockdev.List("/sys", "/dev")
		if err != nil {
			log.Fatal(err)
		}
		for _, d := range devs {
			if d.Disk && !d.Virtual() && !d.ReadOnly {
				disks = append(disks, d.Path)
			}
		}
	}
	failed := false
	for _, d := range disks {
		err := extend(d, execRunner{})
		var skip errNothingToDo
		switch {
		case errors.As(err, &skip):
			log.Printf("%s: %v: leaving it alone", d, skip)
		case err != nil:
			log.Printf("%s: %v", d, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

// runner runs a program and returns its exit code; err is for a program
// that could not run at all.
type runner interface {
	run(name string, args ...string) (code int, output string, err error)
}

type execRunner struct{}

func (execRunner) run(name string, args ...string) (int, string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out), nil
	}
	if err != nil {
		return -1, string(out), fmt.Errorf("running %s: %w", name, err)
	}
	return 0, string(out), nil
}

// extend grows path's partition and its filesystem.
func extend(path string, r runner) error {
	// A dry run of grow says which partition it is, or why the disk is
	// left alone, without holding the disk: one that something else
	// uses (a dm-crypt volume, a mounted filesystem) is only read.
	r0, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening the disk: %w", err)
	}
	plan, err := grow(r0, false)
	r0.Close()
	if err != nil {
		return err
	}
	node := filepath.Join("/dev", blockdev.PartitionPath(filepath.Base(path), plan.n))
	// e2fsck opens the partition exclusively: before extend holds the disk.
	if err := e2fsck(r, node); err != nil {
		return fmt.Errorf("checking %s before the resize: %w", node, err)
	}
	g, err := growTable(path)
	if err != nil {
		return err
	}
	log.Printf("%s: partition %d grown from %d to %d MiB (%s table)", path, g.n, g.from/2048, g.to/2048, g.label)
	if err := waitSize(node, g.to, 10*time.Second); err != nil {
		return err
	}
	if code, out, err := r.run("resize2fs", node); err != nil || code != 0 {
		return fmt.Errorf("resize2fs %s: exit %d %v: %s", node, code, err, strings.TrimSpace(out))
	}
	if err := e2fsck(r, node); err != nil {
		return fmt.Errorf("checking %s after the resize: %w", node, err)
	}
	log.Printf("%s: successfully resized %s to fill the disk", path, node)
	return nil
}

// growTable writes the grown table and has the kernel read it. The disk
// is held exclusively meanwhile (O_EXCL fails while anything has its
// partitions mounted) and released before resize2fs opens the partition.
func growTable(path string) (growth, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_EXCL, 0)
	if err != nil {
		return growth{}, fmt.Errorf("opening the disk to grow it: %w (extend must run before anything mounts it)", err)
	}
	defer f.Close()
	g, err := grow(f, true)
	if err != nil {
		return g, err
	}
	if err := f.Sync(); err != nil {
		return g, fmt.Errorf("writing the partition table: %w", err)
	}
	if err := unix.IoctlSetInt(int(f.Fd()), unix.BLKRRPART, 0); err != nil {
		return g, fmt.Errorf("the kernel did not re-read the partition table: %w", err)
	}
	return g, nil
}

// e2fsck checks the filesystem on node as LinuxKit's extend does: -p -f
// (resize2fs wants a freshly checked filesystem); a check that wants a
// person (exit 4 and up) is retried with -y. Exit 1 (errors fixed) is
// fine; 2 and 3 ask for a reboot, which at boot means something is wrong.
func e2fsck(r runner, node string) error {
	code, out, err := r.run("e2fsck", "-p", "-f", node)
	if err != nil {
		return err
	}
	if code >= 4 {
		code, out, err = r.run("e2fsck", "-y", "-f", node)
		if err != nil {
			return err
		}
	}
	switch {
	case code <= 1:
		return nil
	case code <= 3:
		return fmt.Errorf("e2fsck fixed errors but asks for a reboot: %s", strings.TrimSpace(out))
	}
	return fmt.Errorf("e2fsck exit %d: %s", code, strings.TrimSpace(out))
}

// waitSize waits until the kernel shows the partition node with its new
// size in sectors, after the table was re-read.
func waitSize(node string, sectors uint64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if f, err := os.Open(node); err == nil {
			size, err := f.Seek(0, 2)
			f.Close()
			if err == nil && uint64(size)/sector == sectors {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("partition %s did not show its new size within %s", node, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
