package main

import (
	"fmt"
	"strings"
)

// options is crypto's command line.
type options struct {
	luks    bool
	keyFile string
	help    bool
	name    string // the mapping: /dev/mapper/NAME
	device  string
}

const usage = `Usage: crypto [options] <dm_name> <device>

Options:
    -l|--luks       Use LUKS extension
    -k|--key-file   Name of the key file, default: key
    <dm_name>       Name of the device mapper file, the encrypted device will become available under /dev/mapper/<dm_name>
    <device>        The encrypted device (e.g. /dev/sda1, /dev/loop0, etc)
`

// parseArgs reads getopt-style options as LinuxKit's crypto.sh does: short
// and long forms, -kFILE, --key-file=FILE, -lk FILE, options after the
// operands, -- to end them.
func parseArgs(args []string) (options, error) {
	o := options{keyFile: "key"}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			name, v, hasV := strings.Cut(a[2:], "=")
			switch name {
			case "luks", "help":
				if hasV {
					return o, fmt.Errorf("option --%s takes no value", name)
				}
				o.luks = o.luks || name == "luks"
				o.help = o.help || name == "help"
			case "key-file":
				if !hasV {
					if i+1 >= len(args) {
						return o, fmt.Errorf("option --key-file needs a value")
					}
					i++
					v = args[i]
				}
				o.keyFile = v
			default:
				return o, fmt.Errorf("unknown option --%s", name)
			}
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				switch a[j] {
				case 'l':
					o.luks = true
				case 'h':
					o.help = true
				case 'k':
					v := a[j+1:]
					if v == "" {
						if i+1 >= len(args) {
							return o, fmt.Errorf("option -k needs a value")
						}
						i++
						v = args[i]
					}
					o.keyFile = v
					j = len(a)
				default:
					return o, fmt.Errorf("unknown option -%c", a[j])
				}
			}
		default:
			rest = append(rest, a)
		}
	}
	if o.help {
		return o, nil
	}
	if o.keyFile == "" {
		return o, fmt.Errorf("--key-file is empty")
	}
	switch {
	case len(rest) == 0:
		return o, fmt.Errorf("missing argument <dm_name>")
	case len(rest) == 1:
		return o, fmt.Errorf("missing argument <device>")
	case len(rest) > 2:
		return o, fmt.Errorf("unexpected argument %q", rest[2])
	}
	o.name, o.device = rest[0], rest[1]
	// The name becomes a path under /dev/mapper; device mapper allows
	// 127 bytes and no slash.
	if o.name == "." || o.name == ".." || strings.ContainsAny(o.name, "/\x00") || len(o.name) > 127 {
		return o, fmt.Errorf("dm_name %q: want a name of up to 127 bytes without a slash, e.g. crypt_dev", o.name)
	}
	if !strings.HasPrefix(o.device, "/") {
		return o, fmt.Errorf("device %q: want a path such as /dev/sda1", o.device)
	}
	return o, nil
}
