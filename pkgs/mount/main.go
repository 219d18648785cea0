// Command mountie is Keel's onboot disk mounter, with LinuxKit's command
// line: it mounts the ext4 filesystem with a label, a UUID, on a device,
// or the first one found, on a mount point below /var. The package binds
// /var with shared propagation, so the mount is seen by the host and by
// every container started afterwards.
//
//	mountie [-label LABEL | -uuid UUID | -device DEVICE] MOUNTPOINT
//	mountie DEVICE MOUNTPOINT
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"
)

// options is the parsed command line.
type options struct {
	label, uuid, device string
	mountpoint          string
	// wait bounds the search: a disk's partition node may appear a moment
	// after format re-read its table.
	wait time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	o := options{wait: 10 * time.Second}
	for _, a := range args {
		if a == "-partition" || a == "--partition" || strings.HasPrefix(a, "-partition=") {
			return o, errors.New("-partition is not supported by Keel's mountie: name the partition with -device /dev/vda1, or use -label")
		}
	}
	fs := flag.NewFlagSet("mountie", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.label, "label", "", "mount the filesystem with this label")
	fs.StringVar(&o.uuid, "uuid", "", "mount the filesystem with this UUID")
	fs.StringVar(&o.device, "device", "", "mount this device (e.g. /dev/vda1)")
	fs.DurationVar(&o.wait, "wait", o.wait, "how long to wait for the filesystem to appear")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch fs.NArg() {
	case 0:
		return o, errors.New("no mount point given: mountie [-label L | -device D] /var/external")
	case 1:
		o.mountpoint = fs.Arg(0)
	case 2:
		if o.device != "" {
			return o, fmt.Errorf("the device is given twice: -device %s and %s", o.device, fs.Arg(0))
		}
		o.device, o.mountpoint = fs.Arg(0), fs.Arg(1)
	default:
		return o, fmt.Errorf("too many arguments %q: want [DEVICE] MOUNTPOINT", fs.Args())
	}
	set := 0
	for _, v := range []string{o.label, o.uuid, o.device} {
		if v != "" {
			set++
		}
	}
	if set > 1 {
		return o, errors.New("give only one of -label, -uuid and a device")
	}
	if !strings.HasPrefix(o.mountpoint, "/") {
		return o, fmt.Errorf("mount point %q must be an absolute path (e.g. /var/external)", o.mountpoint)
	}
	return o, nil
}

func main() {
	log.SetFlags(0)
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		log.Fatal(err)
	}
	if err := run(o, newSystem()); err != nil {
		log.Fatal(err)
	}
}
