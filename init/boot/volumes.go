package boot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/keel-os/keel/internal/layout"
	"golang.org/x/sys/unix"
)

// readOnlyVolumes lists the merged/ folders of the read-only volumes under
// dir (layout.VolumesDir): those whose directory holds the
// layout.VolumeReadOnly folder the packer writes. Sorted, so the step
// behaves the same on every boot.
func readOnlyVolumes(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // no volumes in this image
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		vol := filepath.Join(dir, e.Name())
		if st, err := os.Lstat(filepath.Join(vol, layout.VolumeReadOnly)); err != nil || !st.IsDir() {
			continue
		}
		if st, err := os.Lstat(filepath.Join(vol, "merged")); err != nil || !st.IsDir() {
			continue
		}
		out = append(out, filepath.Join(vol, "merged"))
	}
	sort.Strings(out)
	return out, nil
}

// volumesStep makes every read-only volume read-only for everyone, as
// LinuxKit does: it mounts a read-only overlay on the volume's merged/
// folder, over the folder itself and the empty layout.VolumeReadOnly
// folder (an overlay without an upper layer needs two lower ones). The
// overlay's superblock is read-only, so even a container that binds the
// path read-write (runc remounts its binds "rw") cannot write into it; a
// read-only bind would not hold against that. Read-write volumes need
// nothing: /containers stays writable when the root is made read-only
// (writablePlaces).
func volumesStep() error {
	dirs, err := readOnlyVolumes(layout.VolumesDir)
	if err != nil {
		return fmt.Errorf("list the volumes in %s: %w", layout.VolumesDir, err)
	}
	if len(dirs) == 0 {
		return nil
	}
	if l, err := openLoader(); err == nil {
		if err := l.Load("overlay", ""); err != nil {
			klog.Printf("volumes: load module overlay: %v (trying without it)", err)
		}
	}
	var errs []error
	for _, d := range dirs {
		if err := overlayReadOnly(d); err != nil {
			// A read-only bind still refuses writes from containers
			// that bind the volume read-only, which the build enforces.
			klog.Printf("volumes: %v: falling back to a read-only bind", err)
			if err := bindReadOnly(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// overlayReadOnly mounts a read-only overlay of merged (and its sibling
// empty layout.VolumeReadOnly folder) onto merged.
func overlayReadOnly(merged string) error {
	empty := filepath.Join(filepath.Dir(merged), layout.VolumeReadOnly)
	opts := fmt.Sprintf("lowerdir=%s:%s", merged, empty)
	if err := unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, opts); err != nil {
		return fmt.Errorf("mount a read-only overlay (%s) on volume %s: %w", opts, merged, err)
	}
	return nil
}

// bindReadOnly binds dir onto itself and makes that bind read-only (a
// bind's read-only flag can only be set by a remount).
func bindReadOnly(dir string) error {
	if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind read-only volume %s: %w", dir, err)
	}
	flags := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY)
	if err := unix.Mount("", dir, "", flags, ""); err != nil {
		return fmt.Errorf("remount volume %s read-only: %w", dir, err)
	}
	return nil
}
