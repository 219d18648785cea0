// Command init is PID 1 of a Keel system: it mounts the basic filesystems,
// leaves the initramfs root so containers can pivot_root, loads kernel
// modules, starts svcd and keeps it running, reaps orphans, and shuts the
// machine down on request. It never exits. The work is package boot's;
// this picks what argv[0] asks for.
package main

import (
	"fmt"
	"os"

	"github.com/keel-os/keel/init/boot"
)

func main() {
	if sig, ok := boot.MultiCallSignal(os.Args); ok {
		os.Exit(boot.SignalInit(sig))
	}
	if boot.IsModprobe(os.Args) {
		os.Exit(boot.ModprobeMain(os.Args[1:]))
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "init: this is Keel's PID 1; it must run as process 1")
		os.Exit(1)
	}
	boot.Run()
}
