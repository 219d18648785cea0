// Package initctl is the contract between PID 1 and the programs that ask it
// to stop the machine: a signal to PID 1 says what to do.
package initctl

import "golang.org/x/sys/unix"

// Signals PID 1 acts on. SIGTERM and SIGPWR (a UPS or a hypervisor's ACPI
// power button relayed by a daemon) mean power off; SIGINT is what the
// kernel sends on ctrl-alt-del once init has disabled the hard reboot, so it
// means reboot, as in sysvinit and LinuxKit; SIGUSR1 means halt. SIGUSR2 is
// also power off, kept for programs built against the first version of
// this contract.
var (
	PoweroffSignals = []unix.Signal{unix.SIGTERM, unix.SIGPWR, unix.SIGUSR2}
	RebootSignals   = []unix.Signal{unix.SIGINT}
	HaltSignals     = []unix.Signal{unix.SIGUSR1}
)

// Poweroff asks PID 1 to shut the machine down and power it off.
func Poweroff() error { return unix.Kill(1, unix.SIGUSR2) }

// Reboot asks PID 1 to shut the machine down and reboot it.
func Reboot() error { return unix.Kill(1, unix.SIGINT) }

// Halt asks PID 1 to shut the machine down and stop the CPU without
// powering off (the machine stays on, doing nothing).
func Halt() error { return unix.Kill(1, unix.SIGUSR1) }

// ShutdownSignal is what PID 1 sends svcd to make it stop every service and
// run the onshutdown containers; svcd exits 0 when that is done.
const ShutdownSignal = unix.SIGTERM
