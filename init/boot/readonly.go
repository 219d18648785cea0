package boot

import (
	"errors"
	"fmt"
	"os"

	"github.com/keel-os/keel/internal/layout"
	"golang.org/x/sys/unix"
)

// paramRWRoot leaves the root writable, for images that write outside the
// writable places (a debugging aid, or a spec that needs it).
const paramRWRoot = "keel.rwroot"

// writablePlaces stay writable once the root is read-only, besides the
// filesystems init mounted (/dev, /run, /tmp, /var, ...). /containers holds
// the bundles: runc creates bind-mount targets in their rootfs and
// containers that are not readonly write into their rootfs, which in Keel
// (unlike LinuxKit, which overlays a tmpfs) is the bundle directory itself.
// /var is listed for images that bake content into it: init then does not
// mount a tmpfs over it, and containerd still needs to write there.
var writablePlaces = []string{layout.ContainersDir, "/var"}

// readOnlyRootStep makes "/" read-only, as LinuxKit does, so nothing can
// change the system image at run time, keeping writablePlaces writable by
// bind-mounting each onto itself first (a bind has its own read-only flag).
func readOnlyRootStep(cmd cmdline) error {
	if cmd.has(paramRWRoot) {
		klog.Printf("%s: leaving the root file system writable", paramRWRoot)
		return nil
	}
	mounts, err := readMountinfo()
	if err != nil {
		return fmt.Errorf("make the root read-only: %w", err)
	}
	var errs []error
	for _, dir := range writablePlaces {
		if mountedAt(mounts, dir) {
			continue // its own file system: the root's flag does not reach it
		}
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			errs = append(errs, fmt.Errorf("keep %s writable: %w", dir, err))
		}
	}
	if len(errs) > 0 {
		// A read-only root without its writable places would break the
		// services: better a writable root.
		return fmt.Errorf("leaving the root writable: %w", errors.Join(errs...))
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("remount / read-only: %w", err)
	}
	return nil
}
