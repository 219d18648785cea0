// Command format is Keel's onboot disk formatter, with LinuxKit's format
// command line: it gives the first empty disk (or the one named) a
// partition table with one Linux partition spanning the disk and makes an
// ext4 filesystem on it. A disk that holds anything is left alone unless
// -force is given, so running it on every boot is safe.
//
//	format [-type ext4] [-label LABEL] [-partition dos|gpt] [-force] [-verbose] [DEVICE]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
)

// options is the parsed command line.
type options struct {
	fsType    string
	label     string
	partition string // dos or gpt
	force     bool
	verbose   bool
	device    string // empty: the first empty disk
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("format", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.fsType, "type", "ext4", "filesystem to create (Keel supports ext4)")
	fs.StringVar(&o.label, "label", "", "filesystem label")
	fs.StringVar(&o.partition, "partition", "dos", "partition table to write: dos (MBR) or gpt")
	fs.BoolVar(&o.force, "force", false, "format DEVICE even if it holds data (erases it)")
	fs.BoolVar(&o.verbose, "verbose", false, "log every disk looked at")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch fs.NArg() {
	case 0:
	case 1:
		o.device = fs.Arg(0)
	default:
		return o, fmt.Errorf("too many arguments %q: give at most one device", fs.Args())
	}
	switch o.fsType {
	case "ext4":
	case "xfs", "btrfs":
		return o, fmt.Errorf("-type %s is not supported: Keel's format makes ext4 only (use -type ext4)", o.fsType)
	default:
		return o, fmt.Errorf("-type %q is not a filesystem format knows: use ext4", o.fsType)
	}
	if o.partition != "dos" && o.partition != "gpt" {
		return o, fmt.Errorf("-partition %q: want dos or gpt", o.partition)
	}
	if len(o.label) > 16 {
		return o, fmt.Errorf("-label %q is longer than the 16 bytes an ext4 label holds", o.label)
	}
	if o.force && o.device == "" {
		return o, errors.New("-force needs a DEVICE: it never erases a disk found by searching")
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
	sys := system{sysRoot: "/sys", devRoot: "/dev", verbose: o.verbose}
	if err := run(o, sys); err != nil {
		log.Fatal(err)
	}
}
