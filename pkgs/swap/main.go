// Command swap is Keel's onboot swap-file maker, with LinuxKit's command
// line (LinuxKit specs call it as /swap.sh): it creates a swap file of the
// given size, writes the swap header and turns it on with swapon(2).
//
//	/swap.sh --path /var/external/swap --size 1G [--condition part:/var/external[:true]]
//	         [--condition partsize:/var/external:10G[:true]] [--label L] [--debug]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path"
	"strconv"
	"strings"
)

// options is the parsed command line.
type options struct {
	path       string
	size       int64
	label      string
	debug      bool
	conditions []condition
}

// condition is a --condition: the swap file is made only when it holds.
type condition struct {
	kind     string // part: path is a mount point; partsize: its filesystem has at least size bytes
	path     string
	size     int64
	required bool // a failed condition is an error, not a quiet exit
}

type conditionList []condition

func (c *conditionList) String() string { return fmt.Sprint(*c) }

func (c *conditionList) Set(s string) error {
	cond, err := parseCondition(s)
	if err != nil {
		return err
	}
	*c = append(*c, cond)
	return nil
}

func parseCondition(s string) (condition, error) {
	f := strings.Split(s, ":")
	c := condition{kind: f[0]}
	var rest []string
	switch {
	case c.kind == "part" && len(f) >= 2 && len(f) <= 3:
		c.path, rest = f[1], f[2:]
	case (c.kind == "partsize" || c.kind == "size") && len(f) >= 3 && len(f) <= 4:
		c.kind = "partsize"
		c.path, rest = f[1], f[3:]
		n, err := parseSize(f[2])
		if err != nil {
			return c, fmt.Errorf("condition %q: %w", s, err)
		}
		c.size = n
	default:
		return c, fmt.Errorf("condition %q: want part:PATH[:required] or partsize:PATH:SIZE[:required]", s)
	}
	if c.path == "" {
		return c, fmt.Errorf("condition %q: no path", s)
	}
	if len(rest) == 1 {
		req, err := strconv.ParseBool(rest[0])
		if err != nil {
			return c, fmt.Errorf("condition %q: required must be true or false", s)
		}
		c.required = req
	}
	return c, nil
}

// parseSize reads LinuxKit's sizes: bytes, or a number with K, M or G.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	num := s
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K', 'k':
			mult, num = 1<<10, s[:n-1]
		case 'M', 'm':
			mult, num = 1<<20, s[:n-1]
		case 'G', 'g':
			mult, num = 1<<30, s[:n-1]
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v <= 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want a positive number of bytes, optionally with K, M or G (e.g. 1G)", s)
	}
	return v * mult, nil
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var size string
	var encrypt bool
	var conds conditionList
	fs := flag.NewFlagSet("swap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.path, "path", "", "the swap file, below /var (required)")
	fs.StringVar(&size, "size", "", "its size: bytes or a number with K, M or G (required)")
	fs.StringVar(&o.label, "label", "", "swap area label (up to 16 bytes)")
	fs.BoolVar(&o.debug, "debug", false, "log each step")
	fs.BoolVar(&encrypt, "encrypt", false, "not supported: encrypted swap")
	fs.Var(&conds, "condition", "part:PATH[:required] or partsize:PATH:SIZE[:required]; repeatable")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if encrypt {
		return o, errors.New("--encrypt is not supported by Keel's swap package: remove it for an unencrypted swap file")
	}
	if o.path == "" || size == "" {
		return o, errors.New("--path and --size are required, e.g. --path /var/external/swap --size 1G")
	}
	// The root filesystem is read-only and /var is where disks are mounted.
	if clean := path.Clean(o.path); !strings.HasPrefix(clean, "/var/") || clean != o.path {
		return o, fmt.Errorf("--path %q must be a clean path below /var (e.g. /var/external/swap)", o.path)
	}
	n, err := parseSize(size)
	if err != nil {
		return o, fmt.Errorf("--size: %w", err)
	}
	o.size, o.conditions = n, conds
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
	if err := run(o, newSystem(o.debug)); err != nil {
		log.Fatal(err)
	}
}
