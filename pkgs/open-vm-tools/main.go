// Command keel-vmtoolsd starts VMware's guest tools daemon (Debian's
// vmtoolsd) when the machine is a VMware virtual machine, and otherwise
// says so and exits 0. vmtoolsd itself exits 1 without a word anywhere
// else (it looks for VMware's backdoor first), which a service's default
// restart policy would answer with restarts forever; the firmware's DMI
// vendor tells the same thing without that.
package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

const vmtoolsd = "/usr/bin/vmtoolsd"

func main() {
	vendor, err := os.ReadFile("/sys/class/dmi/id/sys_vendor")
	if err == nil && !isVMware(string(vendor)) {
		fmt.Printf("keel-vmtoolsd: not a VMware virtual machine (the firmware says %q): vmtoolsd has no hypervisor to talk to, exiting\n", strings.TrimSpace(string(vendor)))
		os.Exit(0)
	}
	// Without DMI (an unusual kernel or no /sys) vmtoolsd decides.
	err = syscall.Exec(vmtoolsd, append([]string{vmtoolsd}, os.Args[1:]...), os.Environ())
	fmt.Fprintf(os.Stderr, "keel-vmtoolsd: running %s: %v\n", vmtoolsd, err)
	os.Exit(1)
}

// isVMware reports whether a DMI system vendor is VMware's ("VMware, Inc.").
func isVMware(vendor string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(vendor)), "vmware")
}
