// Command keel-qemu-ga starts QEMU's guest agent on the virtio-serial port
// the host named org.qemu.guest_agent.0. LinuxKit's qemu-ga runs
// `qemu-ga -p /dev/vport0p1`, but the kernel numbers the port after its
// virtio device's index (vport<device>p<port>), which depends on every
// other virtio device of the machine (disks, network, entropy); udev's
// stable /dev/virtio-ports/NAME link does not exist without udev. So this
// reads the names in /sys/class/virtio-ports and runs Debian's qemu-ga
// with -p /dev/<the port>, passing its own arguments on. Arguments that
// already name a channel (-p, --path) run qemu-ga unchanged.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

const (
	// portName is the name QEMU's documentation gives the agent's port.
	portName = "org.qemu.guest_agent.0"
	qemuGA   = "/usr/sbin/qemu-ga"
	// wait bounds how long the port may take to appear (the virtio
	// console driver loads while the machine boots).
	wait = 10 * time.Second
)

func main() {
	args := os.Args[1:]
	if !namesPath(args) {
		port, err := waitPort("/sys/class/virtio-ports", portName, wait)
		if err != nil {
			fmt.Fprintf(os.Stderr, "keel-qemu-ga: %v\n", err)
			os.Exit(1)
		}
		args = append([]string{"-p", "/dev/" + port}, args...)
		fmt.Fprintf(os.Stderr, "keel-qemu-ga: the guest agent's channel is /dev/%s\n", port)
	}
	err := syscall.Exec(qemuGA, append([]string{"qemu-ga"}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "keel-qemu-ga: running %s: %v\n", qemuGA, err)
	os.Exit(1)
}

// namesPath reports whether args choose the channel themselves.
func namesPath(args []string) bool {
	for _, a := range args {
		if a == "-p" || strings.HasPrefix(a, "--path") || (strings.HasPrefix(a, "-p") && !strings.HasPrefix(a, "--")) {
			return true
		}
	}
	return false
}

// waitPort waits up to timeout for the port called name to appear under
// dir (sysfs's virtio-ports class) and returns its device name.
func waitPort(dir, name string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		if p, err := findPort(dir, name); err != nil || p != "" {
			return p, err
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no virtio-serial port named %s in %s after %s: give the machine the guest agent's channel (keel run qemu --qemu-ga SOCKET, or QEMU's -device virtserialport,name=%s)", name, dir, timeout, name)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// findPort returns the device whose name file says name, "" for none.
func findPort(dir, name string) (string, error) {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return "", nil // the driver has not loaded (yet)
	}
	if err != nil {
		return "", fmt.Errorf("listing %s: %w", dir, err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "name"))
		if err == nil && strings.TrimSpace(string(b)) == name {
			return e.Name(), nil
		}
	}
	return "", nil
}
