package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/keel-os/keel/internal/blockdev"
)

// env is what run needs from the machine; tests give a fake one.
type env interface {
	Devices() ([]blockdev.Device, error)
	ReadExt(path string) (blockdev.Ext, error)
	// Mounts maps each mounted device to its mount point.
	Mounts() (map[string]string, error)
	Mount(device, mountpoint string) error
	Logf(format string, args ...any)
	Sleep(time.Duration)
}

// notYet marks a failed search that may succeed once more devices appear.
type notYet struct{ error }

func (n notYet) Unwrap() error { return n.error }

// run finds the filesystem o asks for, waiting up to o.wait for it, and
// mounts it unless it is mounted there already.
func run(o options, e env) error {
	const step = 250 * time.Millisecond
	var dev string
	var err error
	for waited := time.Duration(0); ; waited += step {
		dev, err = find(o, e)
		if !errors.As(err, new(notYet)) || waited >= o.wait {
			break
		}
		e.Sleep(step)
	}
	if err != nil {
		return err
	}
	mounts, err := e.Mounts()
	if err != nil {
		return err
	}
	if mounts[dev] == o.mountpoint {
		e.Logf("%s is already mounted on %s", dev, o.mountpoint)
		return nil
	}
	if err := e.Mount(dev, o.mountpoint); err != nil {
		return fmt.Errorf("mounting %s on %s: %w", dev, o.mountpoint, err)
	}
	e.Logf("mounted %s on %s", dev, o.mountpoint)
	return nil
}

// find returns the device to mount.
func find(o options, e env) (string, error) {
	if o.device != "" {
		dev := o.device
		if !strings.HasPrefix(dev, "/") {
			dev = "/dev/" + dev
		}
		if _, err := e.ReadExt(dev); err != nil {
			if errors.Is(err, blockdev.ErrNotExt) {
				return "", fmt.Errorf("%s holds no ext4 filesystem (format it with the format package)", dev)
			}
			return "", notYet{fmt.Errorf("%s: %w", dev, err)}
		}
		return dev, nil
	}
	devs, err := e.Devices()
	if err != nil {
		return "", err
	}
	mounts, err := e.Mounts()
	if err != nil {
		return "", err
	}
	var seen []string
	// Partitions first, then filesystems made on a whole disk.
	for _, wantDisk := range []bool{false, true} {
		for _, d := range devs {
			if d.Disk != wantDisk || d.Virtual() {
				continue
			}
			ext, err := e.ReadExt(d.Path)
			if err != nil {
				continue
			}
			seen = append(seen, fmt.Sprintf("%s (%s %q)", filepath.Base(d.Path), ext.Type, ext.Label))
			switch {
			case o.label != "" && ext.Label == o.label, o.uuid != "" && strings.EqualFold(ext.UUID, o.uuid):
				return d.Path, nil
			case o.label == "" && o.uuid == "" && mounts[d.Path] == "":
				return d.Path, nil
			}
		}
	}
	found := "no ext filesystem on any disk"
	if len(seen) > 0 {
		found = "filesystems found: " + strings.Join(seen, ", ")
	}
	switch {
	case o.label != "":
		return "", notYet{fmt.Errorf("no filesystem labelled %q (%s)", o.label, found)}
	case o.uuid != "":
		return "", notYet{fmt.Errorf("no filesystem with UUID %s (%s)", o.uuid, found)}
	}
	return "", notYet{fmt.Errorf("no unmounted ext4 filesystem to mount (%s): attach a disk and run format before mountie", found)}
}
