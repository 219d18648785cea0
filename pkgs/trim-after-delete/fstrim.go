package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fitrim is FITRIM of linux/fs.h, _IOWR('X', 121, struct fstrim_range).
const fitrim = 0xc0185879

// fstrimRange is struct fstrim_range of linux/fs.h.
type fstrimRange struct {
	start, len, minlen uint64
}

// fstrimMain is fstrim: it tells the filesystem mounted at a directory to discard
// the blocks it does not use (the FITRIM ioctl), as util-linux's fstrim
// does for one mount point: `fstrim [-v] MOUNTPOINT`. It is the command
// LinuxKit's trim-after-delete runs, at its path, /sbin/fstrim, without
// util-linux's other programs and libraries. The image holds one binary
// under both names; main runs this under the name fstrim.
func fstrimMain() {
	flag.CommandLine = flag.NewFlagSet("fstrim", flag.ExitOnError)
	verbose := flag.Bool("v", false, "print how many bytes were trimmed")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: fstrim [-v] MOUNTPOINT")
		os.Exit(1)
	}
	dir := flag.Arg(0)
	n, err := trim(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "fstrim: %s: %v\n", dir, err)
		os.Exit(1)
	}
	if *verbose {
		fmt.Printf("%s: %d bytes trimmed\n", dir, n)
	}
}

// trim discards dir's filesystem's free blocks and returns how many
// bytes the kernel says it trimmed.
func trim(dir string) (uint64, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := fstrimRange{len: math.MaxUint64}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fitrim, uintptr(unsafe.Pointer(&r)))
	switch errno {
	case 0:
		return r.len, nil
	case unix.EOPNOTSUPP, unix.ENOTTY:
		return 0, fmt.Errorf("the filesystem does not support discard (FITRIM): %w", errno)
	}
	return 0, fmt.Errorf("FITRIM: %w", errno)
}
