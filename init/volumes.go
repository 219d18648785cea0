package main

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
// layout.VolumeReadOnly marker the packer writes. Sorted, so the step
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
		if _, err := os.Lstat(filepath.Join(vol, layout.VolumeReadOnly)); err != nil {
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
// LinuxKit does, by binding its merged/ folder onto itself and remounting
// that bind read-only. The build already refuses a read-write bind of such
// a volume; this also holds against a container that binds the path
// directly. Read-write volumes need nothing: /containers stays writable
// when the root is made read-only (writablePlaces).
func volumesStep() error {
	dirs, err := readOnlyVolumes(layout.VolumesDir)
	if err != nil {
		return fmt.Errorf("list the volumes in %s: %w", layout.VolumesDir, err)
	}
	var errs []error
	for _, d := range dirs {
		if err := bindReadOnly(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
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
