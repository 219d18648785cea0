// Command loopy attaches a file to a loop device at boot, with the command
// line of LinuxKit's losetup package (its loopy.sh): with -c it first makes
// the file, -s MiB large, when it is missing. The device is /dev/loop0 or
// the one -d names. The attachment outlives the container: the device
// keeps the file until something detaches it.
//
// Where /dev/loop0 already holds another file (a Keel system whose root
// is a squashfs image mounts it through a loop device) and -d was not
// given, loopy takes the first free device and says which; LinuxKit's
// script would fail there.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

func main() {
	o, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintf(os.Stderr, "loopy: %v\n\n%s", err, usage)
		os.Exit(1)
	}
	if o.help {
		fmt.Print(usage)
		return
	}
	os.Exit(run(o))
}

// run does the work; its exit codes are loopy.sh's: 2 for a missing device
// or file, 1 for anything else.
func run(o options) int {
	fail := func(code int, format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "loopy: "+format+"\n", a...)
		return code
	}
	if err := ensureDevice(o.dev); err != nil {
		return fail(2, "loop device %s doesn't exist (%v)! Did you forget to bind-mount '/dev'?", o.dev, err)
	}
	if _, err := os.Stat(o.file); errors.Is(err, os.ErrNotExist) {
		if !o.create {
			return fail(2, "file %s not found. Please specify --create or ensure it's present.", o.file)
		}
		fmt.Printf("loopy: file %s not found, creating new one of size %d MiB\n", o.file, o.sizeMiB)
		if err := create(o.file, o.sizeMiB<<20); err != nil {
			return fail(1, "%v", err)
		}
	} else if err != nil {
		return fail(1, "%v", err)
	}
	dev, err := attach(o)
	if err != nil {
		return fail(1, "%v", err)
	}
	fmt.Printf("loopy: associated file %s with loop device %s\n", o.file, dev)
	return 0
}

// ensureDevice makes sure dev is a block device, asking loop-control to
// add it (as LOOP_CTL_ADD does for /dev/loopN) when it is missing.
func ensureDevice(dev string) error {
	st, err := os.Stat(dev)
	if err == nil {
		if st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
			return fmt.Errorf("%s is not a block device", dev)
		}
		return nil
	}
	var n int
	if _, serr := fmt.Sscanf(filepath.Base(dev), "loop%d", &n); serr != nil || !errors.Is(err, os.ErrNotExist) {
		return err
	}
	ctl, cerr := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if cerr != nil {
		return err
	}
	defer ctl.Close()
	if _, aerr := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_ADD); aerr != nil && !errors.Is(aerr, unix.EEXIST) {
		return fmt.Errorf("LOOP_CTL_ADD %d: %w", n, aerr)
	}
	_, err = os.Stat(dev)
	return err
}

// create makes a file of size bytes, its blocks reserved (fallocate) as
// LinuxKit's dd from /dev/zero would write them, without writing them
// where the filesystem can.
func create(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	err = unix.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, unix.EOPNOTSUPP) {
		err = f.Truncate(size)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("make %s %d MiB large: %w", path, size>>20, err)
	}
	return nil
}

// attach binds o.file to o.dev, or, when o.dev holds another file and -d
// was not given, to a free device. It returns the device used.
func attach(o options) (string, error) {
	img, err := os.OpenFile(o.file, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("open %s: %w", o.file, err)
	}
	defer img.Close()
	err = configure(o.dev, img, o.file)
	if !errors.Is(err, unix.EBUSY) {
		return o.dev, err
	}
	if same, _ := holds(o.dev, img); same {
		// A restarted loopy finds its own earlier work.
		return o.dev, nil
	}
	if o.devSet {
		return "", fmt.Errorf("%s already holds another file (see /sys/block/%s/loop/backing_file): name a free device with -d", o.dev, filepath.Base(o.dev))
	}
	ctl, cerr := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if cerr != nil {
		return "", fmt.Errorf("%s is busy and no free device can be found: %w", o.dev, cerr)
	}
	defer ctl.Close()
	for range 5 { // another process may take the free device first
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return "", fmt.Errorf("find a free loop device: %w", err)
		}
		dev := fmt.Sprintf("/dev/loop%d", n)
		fmt.Printf("loopy: %s is in use: taking the free %s\n", o.dev, dev)
		if err := ensureDevice(dev); err != nil {
			return "", err
		}
		if err := configure(dev, img, o.file); !errors.Is(err, unix.EBUSY) {
			return dev, err
		}
	}
	return "", fmt.Errorf("no free loop device stayed free")
}

// configure attaches img to dev read-write, without autoclear, so the
// attachment outlives this process: LOOP_CONFIGURE, or LOOP_SET_FD and
// LOOP_SET_STATUS64 on kernels before 5.8.
func configure(dev string, img *os.File, name string) error {
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dev, err)
	}
	defer f.Close()
	var info unix.LoopInfo64
	copy(info.File_name[:len(info.File_name)-1], name)
	err = unix.IoctlLoopConfigure(int(f.Fd()), &unix.LoopConfig{Fd: uint32(img.Fd()), Info: info})
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTTY) {
		if err = unix.IoctlSetInt(int(f.Fd()), unix.LOOP_SET_FD, int(img.Fd())); err == nil {
			if err = unix.IoctlLoopSetStatus64(int(f.Fd()), &info); err != nil {
				_ = unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("attach %s to %s: %w", name, dev, err)
	}
	return nil
}

// holds reports whether dev is attached to the file img is open on.
func holds(dev string, img *os.File) (bool, error) {
	f, err := os.Open(dev)
	if err != nil {
		return false, err
	}
	defer f.Close()
	info, err := unix.IoctlLoopGetStatus64(int(f.Fd()))
	if err != nil {
		return false, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(img.Fd()), &st); err != nil {
		return false, err
	}
	return info.Inode == st.Ino && info.Device == st.Dev, nil
}
