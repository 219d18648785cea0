package boot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/keel-os/keel/internal/kmod"
	"github.com/keel-os/keel/internal/layout"
	"golang.org/x/sys/unix"
)

// A root on a disk (keel build's kernel+squashfs, kernel+iso and
// kernel+erofs formats)
// boots from an initramfs that holds only /init, the modules to reach the
// disk and the layout.RootDisk marker. init loads the modules, waits for
// the block device the command line's last root= names (the packer writes
// root=/dev/vda; `keel run qemu` appends another when disks come first,
// as LinuxKit's appends root=/dev/sda), mounts the squashfs or ISO 9660
// file system on it read-only and stacks a tmpfs on it, as it does the
// images of a squashfs root.

// paramRootWait is how long init waits for the root device to appear, in
// seconds; disks are probed in the background (SCSI scans asynchronously).
const paramRootWait = "keel.rootwait"

// defaultRootWait bounds the wait for the root device: a slow virtual
// machine under emulation shows its disks within seconds.
const defaultRootWait = 30 * time.Second

// hasRootDisk reports whether the initramfs is a disk root's.
func hasRootDisk() bool {
	_, err := os.Stat(layout.RootDisk)
	return err == nil
}

// loadDiskModules loads the modules that reach and mount a root disk.
// Missing ones are only logged: the kernel may have them built in, or the
// root may not need them (no SCSI disk on a virtio machine). Blacklisted
// ones are left out: `keel run qemu` blacklists the IDE drivers on a board
// with nothing on IDE, whose probe of the empty channels only costs time.
func loadDiskModules(l *kmod.Loader) {
	for _, m := range layout.RootDiskModules {
		if l.Blacklisted(m) {
			klog.Debugf("root disk: %s is blacklisted: not loaded", m)
			continue
		}
		if err := l.Load(m, ""); err != nil {
			klog.Debugf("root disk: %v", err)
		}
	}
}

// mountRootDisk mounts the file system on the device cmd's root= names
// read-only on dir, and says what it mounted.
func mountRootDisk(cmd cmdline, dir string) (string, error) {
	dev, ok := cmd[layout.RootDiskParam]
	if !ok || dev == "" {
		return "", fmt.Errorf("the root is on a disk, but the kernel command line names none: add %s=/dev/vda (the disk that holds the -squashfs.img or .iso)", layout.RootDiskParam)
	}
	if !strings.HasPrefix(dev, "/dev/") || strings.Contains(dev, "..") {
		return "", fmt.Errorf("%s=%s on the kernel command line: want a device path such as /dev/vda", layout.RootDiskParam, dev)
	}
	wait, err := cmd.seconds(paramRootWait, defaultRootWait)
	if err != nil {
		klog.Printf("root disk: %v", err)
	}
	if err := waitForDevice(dev, wait); err != nil {
		return "", err
	}
	fstype, err := diskFSType(dev)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", dir, err)
	}
	if err := unix.Mount(dev, dir, fstype, unix.MS_RDONLY, ""); err != nil {
		return "", fmt.Errorf("mount %s (%s) read-only on %s: %w", dev, fstype, dir, err)
	}
	return fmt.Sprintf("%s on %s", fstype, dev), nil
}

// waitForDevice waits until dev exists, for at most wait.
func waitForDevice(dev string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		if _, err := os.Stat(dev); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("root device %s did not appear within %s (block devices: %s): check root= on the kernel command line, or wait longer with %s=SECONDS", dev, wait, blockDevices(), paramRootWait)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// blockDevices lists the kernel's block devices, for an error message.
func blockDevices() string {
	ents, err := os.ReadDir("/sys/class/block")
	if err != nil || len(ents) == 0 {
		return "none"
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return strings.Join(names, ", ")
}

// The magic numbers of the root file systems: squashfs's at the start,
// ISO 9660's in the primary volume descriptor at sector 16, erofs's
// (0xE0F5E1E2, little-endian) in its superblock at 1024.
var (
	squashfsMagic = []byte("hsqs")
	isoMagic      = []byte("CD001")
	erofsMagic    = []byte{0xe2, 0xe1, 0xf5, 0xe0}
)

const erofsMagicOffset = 1024

const isoMagicOffset = 16*2048 + 1

// diskFSType says which file system the image at path holds.
func diskFSType(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("open the root device: %w", err)
	}
	defer f.Close()
	return detectFSType(f, path)
}

// detectFSType reads the magic numbers of r.
func detectFSType(r io.ReaderAt, name string) (string, error) {
	buf := make([]byte, len(isoMagic))
	if _, err := r.ReadAt(buf[:len(squashfsMagic)], 0); err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read %s: %w", name, err)
	}
	if bytes.Equal(buf[:len(squashfsMagic)], squashfsMagic) {
		return "squashfs", nil
	}
	if _, err := r.ReadAt(buf[:len(erofsMagic)], erofsMagicOffset); err == nil && bytes.Equal(buf[:len(erofsMagic)], erofsMagic) {
		return "erofs", nil
	}
	if _, err := r.ReadAt(buf, isoMagicOffset); err == nil && bytes.Equal(buf, isoMagic) {
		return "iso9660", nil
	}
	return "", fmt.Errorf("%s holds no squashfs, erofs or ISO 9660 file system: root= must name the disk of the -squashfs.img, -erofs.img or .iso that keel build wrote", filepath.Clean(name))
}
