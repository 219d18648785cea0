// Command floorinit is the PID 1 of the bare-kernel floor boots (see
// BenchmarkBootFloor): it does no more than report that the kernel handed
// over to user space, with the guest's uptime, and power the machine off.
// Any real init's cost is measured above this floor.
package main

import (
	"fmt"
	"os"
	"syscall"
)

func main() {
	// /dev/console is in the initrd or devtmpfs; /proc gives the uptime.
	syscall.Mount("devtmpfs", "/dev", "devtmpfs", 0, "") //nolint:errcheck // the message falls back to stdout
	syscall.Mount("proc", "/proc", "proc", 0, "")        //nolint:errcheck // uptime is then empty
	uptime, _ := os.ReadFile("/proc/uptime")
	out := os.Stdout
	if c, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		out = c
	}
	fmt.Fprintf(out, "KEEL-FLOOR-PID1 uptime %s\n", uptime)
	syscall.Sync()
	syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF) //nolint:errcheck // nothing to do but wait
	select {}
}
