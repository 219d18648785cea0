// Command multicall is Keel's system binary: svcd, svcctl, containerd and
// containerd's runc shim in one file, which the image carries once under
// each of their names (hard links, like busybox). The four programs share
// most of their code (the containerd client, gRPC, protobuf, the runtime
// spec), so one binary is about half the size of four, and it compresses
// into an initrd as one file instead of four near-copies.
//
// It runs the program its name (argv[0]) says; run under another name, the
// first argument names the program ("multicall svcd --help").
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/keel-os/keel/svcd/daemon"
	"github.com/keel-os/keel/svcd/prepare"
	"github.com/keel-os/keel/svcd/svcctl/cli"
)

// programs are the names the binary answers to, with their mains. Each
// main takes the arguments after the program name; containerd and its shim
// read os.Args themselves, which main has set to start with the name.
var programs = map[string]func(args []string) int{
	"svcd":                    daemon.Main,
	"svcctl":                  cli.Main,
	"logread":                 cli.LogreadMain,
	"containerd":              containerdMain,
	"containerd-shim-runc-v2": shimMain,
	// runc runs it around an onboot or onshutdown container that has a
	// runtime section (an OCI hook; svcd names it).
	prepare.HookName: prepare.HookMain,
}

func main() {
	args, run, ok := dispatch(os.Args)
	if !ok {
		fmt.Fprintf(os.Stderr, "%s: Keel's system binary; run it as one of %s (a link of that name, or the name as the first argument)\n",
			filepath.Base(os.Args[0]), strings.Join(names(), ", "))
		os.Exit(2)
	}
	os.Args = args
	os.Exit(run(args[1:]))
}

// dispatch picks the program named by args[0]'s base name or, failing
// that, by args[1]; it returns the arguments that program sees (its name
// first).
func dispatch(args []string) ([]string, func([]string) int, bool) {
	if len(args) == 0 {
		return nil, nil, false
	}
	if run, ok := programs[filepath.Base(args[0])]; ok {
		return args, run, true
	}
	if len(args) > 1 {
		if run, ok := programs[args[1]]; ok {
			return args[1:], run, true
		}
	}
	return nil, nil, false
}

func names() []string {
	out := make([]string, 0, len(programs))
	for n := range programs {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
