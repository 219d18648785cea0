package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/keel-os/keel/internal/blockdev"
)

// env is what run needs from the machine; tests give a fake one.
type env interface {
	Devices() ([]blockdev.Device, error)
	// Describe tells what a device holds, "" for nothing (see
	// blockdev.Describe).
	Describe(path string) (string, error)
	// Format partitions disk and makes the filesystem on its partition.
	Format(disk blockdev.Device, o options) error
	Logf(format string, args ...any)
	Debugf(format string, args ...any)
}

// run formats the disk o names, or the first empty one. A disk holding
// data is never touched without -force; one formatted before is left
// alone, which is what makes format safe on every boot.
func run(o options, e env) error {
	devs, err := e.Devices()
	if err != nil {
		return err
	}
	if o.device != "" {
		return formatNamed(o, e, devs)
	}
	var candidates []blockdev.Device
	for _, d := range devs {
		switch {
		case !d.Disk:
		case d.Virtual(), d.ReadOnly, d.Size == 0:
			e.Debugf("%s: skipped (read-only, empty or not a disk)", d.Path)
		default:
			candidates = append(candidates, d)
		}
	}
	if len(candidates) == 0 {
		return fmt.Errorf("no disk to format: attach one (e.g. keel run qemu --disk disk.img,size=1G)")
	}
	for _, d := range candidates {
		what, err := describeDisk(e, devs, d)
		if err != nil {
			return err
		}
		if what == "" {
			return e.Format(d, o)
		}
		e.Logf("%s holds %s: leaving it alone", d.Path, what)
	}
	e.Logf("no empty disk found: nothing to format")
	return nil
}

func formatNamed(o options, e env, devs []blockdev.Device) error {
	name := strings.TrimPrefix(o.device, "/dev/")
	var names []string
	for _, d := range devs {
		names = append(names, d.Name)
		if d.Name != name && d.Path != o.device {
			continue
		}
		if !d.Disk {
			return fmt.Errorf("%s is a partition: name the whole disk (e.g. /dev/%s)", o.device, d.Parent)
		}
		if d.ReadOnly {
			return fmt.Errorf("%s is read-only", o.device)
		}
		if o.force {
			e.Logf("%s: -force given, erasing it", d.Path)
			return e.Format(d, o)
		}
		what, err := describeDisk(e, devs, d)
		if err != nil {
			return err
		}
		switch {
		case what == "":
			return e.Format(d, o)
		case formattedAs(e, devs, d, o.fsType):
			e.Logf("%s is already formatted (%s): leaving it alone", d.Path, what)
			return nil
		default:
			return fmt.Errorf("%s holds %s: pass -force to erase it", d.Path, what)
		}
	}
	return fmt.Errorf("no block device %s (devices: %s)", o.device, strings.Join(names, " "))
}

// describeDisk says what a disk holds, with the content of its first
// partition when it has one.
func describeDisk(e env, devs []blockdev.Device, d blockdev.Device) (string, error) {
	what, err := e.Describe(d.Path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", d.Path, err)
	}
	if parts := blockdev.Partitions(devs, d.Name); len(parts) > 0 {
		p := parts[0]
		in, err := e.Describe(p.Path)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p.Path, err)
		}
		if in == "" {
			in = "nothing"
		}
		what = fmt.Sprintf("%s; %s holds %s", what, filepath.Base(p.Path), in)
	}
	return what, nil
}

// formattedAs reports whether d's first partition holds an fsType
// filesystem: what format itself leaves behind.
func formattedAs(e env, devs []blockdev.Device, d blockdev.Device, fsType string) bool {
	parts := blockdev.Partitions(devs, d.Name)
	if len(parts) == 0 {
		return false
	}
	what, err := e.Describe(parts[0].Path)
	return err == nil && strings.HasPrefix(what, "an "+fsType+" filesystem")
}
