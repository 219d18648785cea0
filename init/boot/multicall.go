package boot

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/keel-os/keel/internal/initctl"
	"golang.org/x/sys/unix"
)

// commands are the names /init also answers to (through /sbin symlinks):
// each asks the running PID 1 for a clean shutdown with its signal, the
// way busybox's and sysvinit's poweroff/reboot/halt do.
var commands = map[string]unix.Signal{
	"poweroff": initctl.PoweroffSignals[0],
	"reboot":   initctl.RebootSignals[0],
	"halt":     initctl.HaltSignals[0],
}

// MultiCallSignal says which signal the command in argv[0] stands for.
func MultiCallSignal(args []string) (unix.Signal, bool) {
	if len(args) == 0 {
		return 0, false
	}
	sig, ok := commands[filepath.Base(args[0])]
	return sig, ok
}

// SignalInit sends sig to PID 1 and returns the exit status.
func SignalInit(sig unix.Signal) int {
	name := filepath.Base(os.Args[0])
	if len(os.Args) > 1 && (os.Args[1] == "-h" || os.Args[1] == "--help") {
		fmt.Printf("usage: %s\nAsks init (PID 1) to stop every service and %s the machine.\n", name, name)
		return 0
	}
	if err := unix.Kill(1, sig); err != nil {
		fmt.Fprintf(os.Stderr, "%s: signalling init (PID 1): %v (are you root, in the host's PID namespace?)\n", name, err)
		return 1
	}
	return 0
}
