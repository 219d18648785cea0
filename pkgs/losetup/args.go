package main

import (
	"fmt"
	"strconv"
	"strings"
)

// options is loopy's command line.
type options struct {
	create  bool
	sizeMiB int64
	dev     string
	devSet  bool // -d given: use that device or fail
	help    bool
	file    string
}

// maxSizeMiB bounds -s: 16 TiB, far beyond a file made at boot.
const maxSizeMiB = 16 << 20

const usage = `Usage: loopy [options] <file>

Options:
    -c, --create          Create <file> if not present, default: false
    -s, --size NUM        Size of <file> in MiB if it gets created, default: 10
    -d, --dev DEVICE      Use DEVICE as loop device, default: /dev/loop0
`

// parseArgs reads getopt-style options as LinuxKit's loopy.sh does (short
// and long forms, -s20, --size=20, -cs 20, options after the file, -- to
// end them).
func parseArgs(args []string) (options, error) {
	o := options{sizeMiB: 10, dev: "/dev/loop0"}
	var rest []string
	value := func(name string, i *int, inline string, hasInline bool) (string, error) {
		if hasInline {
			return inline, nil
		}
		if *i+1 >= len(args) {
			return "", fmt.Errorf("option %s needs a value", name)
		}
		*i++
		return args[*i], nil
	}
	set := func(name, v string) error {
		switch name {
		case "s", "size":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 || n > maxSizeMiB {
				return fmt.Errorf("--size %q: want a whole number of MiB from 1 to %d", v, maxSizeMiB)
			}
			o.sizeMiB = n
		case "d", "dev":
			if !strings.HasPrefix(v, "/dev/") {
				return fmt.Errorf("--dev %q: want a device path such as /dev/loop0", v)
			}
			o.dev, o.devSet = v, true
		}
		return nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			name, inline, has := strings.Cut(a[2:], "=")
			switch name {
			case "create", "help":
				if has {
					return o, fmt.Errorf("option --%s takes no value", name)
				}
				o.create = o.create || name == "create"
				o.help = o.help || name == "help"
			case "size", "dev":
				v, err := value("--"+name, &i, inline, has)
				if err != nil {
					return o, err
				}
				if err := set(name, v); err != nil {
					return o, err
				}
			default:
				return o, fmt.Errorf("unknown option %s", a)
			}
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				switch c := a[j]; c {
				case 'c':
					o.create = true
				case 'h':
					o.help = true
				case 's', 'd':
					v, err := value("-"+string(c), &i, a[j+1:], j+1 < len(a))
					if err != nil {
						return o, err
					}
					if err := set(string(c), v); err != nil {
						return o, err
					}
					j = len(a)
				default:
					return o, fmt.Errorf("unknown option -%c", c)
				}
			}
		default:
			rest = append(rest, a)
		}
	}
	if o.help {
		return o, nil
	}
	if len(rest) == 0 {
		return o, fmt.Errorf("missing argument <file>")
	}
	if len(rest) > 1 {
		return o, fmt.Errorf("one <file>, got %d: %q", len(rest), rest)
	}
	o.file = rest[0]
	return o, nil
}
