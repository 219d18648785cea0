package boot

import (
	"bytes"
	"fmt"

	"golang.org/x/sys/unix"
)

// uevent is one kernel device event.
type uevent struct {
	action string
	env    map[string]string
}

// parseUevent reads a kernel uevent datagram: "ACTION@DEVPATH" then
// NUL-separated KEY=VALUE pairs. It reports false for anything else, such
// as udev's own "libudev" messages.
func parseUevent(b []byte) (uevent, bool) {
	parts := bytes.Split(b, []byte{0})
	head := string(parts[0])
	at := bytes.IndexByte(parts[0], '@')
	if at <= 0 {
		return uevent{}, false
	}
	ev := uevent{action: head[:at], env: map[string]string{}}
	for _, p := range parts[1:] {
		if k, v, ok := bytes.Cut(p, []byte{'='}); ok {
			ev.env[string(k)] = string(v)
		}
	}
	if a := ev.env["ACTION"]; a != "" {
		ev.action = a
	}
	return ev, true
}

// openUevents opens a socket that receives the kernel's device events. It
// is opened before coldplug so a device that appears between coldplug's
// last look at /sys and the listener's start is not missed: the socket
// queues its event.
func openUevents() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_KOBJECT_UEVENT)
	if err != nil {
		return -1, fmt.Errorf("open uevent socket: %w", err)
	}
	// Coldplug makes a burst of events; a small queue would drop some.
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind uevent socket: %w", err)
	}
	return fd, nil
}

// listenUevents reads events from fd forever and calls load with the
// modalias of every added device that has one.
func listenUevents(fd int, load func(modalias string)) {
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if err == unix.EINTR || err == unix.ENOBUFS { // ENOBUFS: events were dropped; go on
				continue
			}
			klog.Printf("hotplug: reading uevents: %v; hotplug stops", err)
			return
		}
		ev, ok := parseUevent(buf[:n])
		if !ok || ev.action != "add" || ev.env["MODALIAS"] == "" {
			continue
		}
		load(ev.env["MODALIAS"])
	}
}
