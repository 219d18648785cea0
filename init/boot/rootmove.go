package boot

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/keel-os/keel/internal/bootlog"
	"golang.org/x/sys/unix"
)

// The initramfs root ("rootfs") cannot be pivot_root'ed away from, and runc
// needs pivot_root. Instead of copying it to a tmpfs (seconds), init bind
// mounts it onto a directory of itself, moves /proc, /sys and /dev into the
// bind, moves the bind over "/", chroots into it and re-executes itself from
// there. The new "/" is an ordinary mount, so pivot_root works.

const (
	newRootDir = "/.keel-newroot"
	// stageEnv tells the re-executed init that the root has moved.
	stageEnv   = "KEEL_INIT_STAGE"
	recordsEnv = "KEEL_INIT_RECORDS"
)

// needRootMove reports whether "/" is the kernel's initramfs rootfs.
func needRootMove() bool {
	mounts, err := readMountinfo()
	if err != nil {
		return false
	}
	return rootFSType(mounts) == "rootfs"
}

// moveRoot makes the bind mount of rootfs the process's root. Nothing is
// undone on failure: each step after the bind is needed for the next.
func moveRoot() error {
	if err := os.Mkdir(newRootDir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create %s: %w", newRootDir, err)
	}
	// Not recursive: the bind must not carry /proc etc. along as copies.
	if err := unix.Mount("/", newRootDir, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind mount / on %s: %w", newRootDir, err)
	}
	return enterNewRoot()
}

// enterNewRoot makes the file system mounted on newRootDir (the bind of
// rootfs, or the overlay of a root image) the process's root.
func enterNewRoot() error {
	mounts, _ := readMountinfo()
	for _, m := range []string{"/dev", "/proc", "/sys"} {
		if !mountedAt(mounts, m) {
			continue
		}
		if err := unix.Mount(m, newRootDir+m, "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s into the new root: %w", m, err)
		}
	}
	if err := os.Chdir(newRootDir); err != nil {
		return fmt.Errorf("enter the new root: %w", err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move the new root over /: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot into the new root: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return fmt.Errorf("chdir / in the new root: %w", err)
	}
	return nil
}

// reexec runs /init again from the new root, carrying the boot records.
// It returns only on failure.
func reexec(recs []bootlog.Step) error {
	self := "/init"
	if len(os.Args) > 0 && os.Args[0] != "" && os.Args[0][0] == '/' {
		self = os.Args[0]
	}
	env := append(os.Environ(), stageEnv+"=2", recordsEnv+"="+encodeRecords(recs))
	return syscall.Exec(self, os.Args, env)
}

// finishRootMove runs in the re-executed init: it makes mount events
// propagate (runc and containerd expect a shared root) and removes the
// now-empty mount point.
func finishRootMove() error {
	os.Remove(newRootDir)
	if err := unix.Mount("", "/", "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make / rshared: %w", err)
	}
	return nil
}
