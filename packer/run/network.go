package run

import (
	"cmp"
	"crypto/sha256"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/keel-os/keel/packer/segment"
)

// Network is one NIC of the guest and how QEMU connects it, as LinuxKit's
// `-networking` says it, plus sockets between VMs:
//
//	user                      user-mode network (NAT; --publish forwards to it)
//	none                      no NIC at all (alone)
//	tap,IFNAME                a tap device of the host (made beforehand)
//	bridge,BRIDGE             a tap on a host bridge, through qemu-bridge-helper
//	socket,listen=HOST:PORT   one end of a point-to-point Ethernet link between VMs
//	socket,connect=HOST:PORT  the other end
//	segment,NAME              a port of the switch of segment NAME, shared by
//	                          every VM that names it (package segment)
//
// Every kind but none takes ",mac=52:54:00:..." for its NIC's address and
// ",model=NAME" for QEMU's device model of the NIC (default virtio-net-pci;
// e1000e, e1000, rtl8139 ... are what physical machines have).
// Guests see the NICs in order (eth0, eth1, ...).
type Network struct {
	Kind   string // user, none, tap, bridge, socket, segment
	Target string // tap: the interface; bridge: the bridge; socket: listen=... or connect=...; segment: its name
	MAC    string
	Model  string // QEMU's -device name of the NIC; "" is virtio-net-pci
}

// ParseNetwork reads one --networking value.
func ParseNetwork(s string) (Network, error) {
	parts := strings.Split(s, ",")
	n := Network{Kind: parts[0]}
	var opts []string
	for _, p := range parts[1:] {
		if m, ok := strings.CutPrefix(p, "mac="); ok {
			if _, err := net.ParseMAC(m); err != nil {
				return n, fmt.Errorf("--networking %q: %q is not a MAC address", s, m)
			}
			n.MAC = m
			continue
		}
		if m, ok := strings.CutPrefix(p, "model="); ok {
			if !validModel(m) {
				return n, fmt.Errorf("--networking %q: %q is not a QEMU NIC model (e.g. e1000e, virtio-net-pci; `qemu-system-x86_64 -device help` lists them)", s, m)
			}
			n.Model = m
			continue
		}
		opts = append(opts, p)
	}
	usage := fmt.Errorf("--networking %q: want user, none, tap,IFNAME, bridge,BRIDGE, socket,listen=HOST:PORT, socket,connect=HOST:PORT or segment,NAME (each but none may add ,mac=ADDR and ,model=NIC)", s)
	switch n.Kind {
	case "user", "none":
		if len(opts) != 0 || (n.Kind == "none" && (n.MAC != "" || n.Model != "")) {
			return n, usage
		}
	case "tap", "bridge":
		if len(opts) != 1 || !validIfName(opts[0]) {
			return n, usage
		}
		n.Target = opts[0]
	case "socket":
		if len(opts) != 1 {
			return n, usage
		}
		mode, addr, _ := strings.Cut(opts[0], "=")
		if mode != "listen" && mode != "connect" {
			return n, usage
		}
		host, p, err := net.SplitHostPort(addr)
		if err != nil {
			return n, fmt.Errorf("--networking %q: %q: %w", s, addr, err)
		}
		if _, err := port(p); err != nil {
			return n, fmt.Errorf("--networking %q: %w", s, err)
		}
		if host == "" {
			// QEMU would listen on every address: keep the link on this
			// machine unless one is named.
			host = "127.0.0.1"
		}
		n.Target = mode + "=" + net.JoinHostPort(host, p)
	case "segment":
		if len(opts) != 1 {
			return n, usage
		}
		if err := segment.CheckName(opts[0]); err != nil {
			return n, fmt.Errorf("--networking %q: %w", s, err)
		}
		n.Target = opts[0]
	default:
		return n, usage
	}
	return n, nil
}

// validModel accepts QEMU device names (letters, digits, '-', '_', '.'),
// which keeps option separators out of the -device string.
func validModel(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// validIfName is the kernel's rule for interface names (and keeps commas
// out of QEMU's option string).
func validIfName(s string) bool {
	if s == "" || len(s) > 15 {
		return false
	}
	for _, r := range s {
		if r == '/' || r == ',' || r == '=' || r <= ' ' || r == ':' {
			return false
		}
	}
	return true
}

// netArgs are QEMU's arguments for the guest's NICs: nets (the user
// network alone when empty), with publish forwarded through the user one.
// seed makes the MACs QEMU would otherwise give every VM alike differ
// between VMs (the state directory or build names it); segmentSeed does
// for segment NICs, which VMs of one build share. sockets are the
// segments' switch sockets by name.
func netArgs(nets []Network, publish []Publish, seed, segmentSeed string, sockets map[string]string) ([]string, error) {
	if len(nets) == 0 {
		nets = []Network{{Kind: "user"}}
	}
	var args []string
	users := 0
	for i, n := range nets {
		id := "net" + strconv.Itoa(i)
		var netdev string
		switch n.Kind {
		case "none":
			if len(nets) != 1 {
				return nil, fmt.Errorf("--networking none cannot be combined with other networks")
			}
			if len(publish) > 0 {
				return nil, fmt.Errorf("--publish needs a user network: drop --networking none")
			}
			return []string{"-nic", "none"}, nil
		case "user":
			users++
			netdev = "user,id=" + id
			for _, p := range publish {
				netdev += "," + p.hostfwd()
			}
		case "tap":
			netdev = "tap,id=" + id + ",ifname=" + n.Target + ",script=no,downscript=no"
		case "bridge":
			netdev = "bridge,id=" + id + ",br=" + n.Target
		case "socket":
			netdev = "socket,id=" + id + "," + n.Target
		case "segment":
			sock, ok := sockets[n.Target]
			if !ok {
				return nil, fmt.Errorf("segment %q has no switch socket", n.Target)
			}
			// A comma in a QEMU option value is written twice.
			netdev = "stream,id=" + id + ",server=off,addr.type=unix,addr.path=" + strings.ReplaceAll(sock, ",", ",,")
		default:
			return nil, fmt.Errorf("unknown network kind %q", n.Kind)
		}
		dev := cmp.Or(n.Model, "virtio-net-pci") + ",netdev=" + id
		mac := n.MAC
		if mac == "" && n.Kind == "segment" {
			mac = derivedMAC(segmentSeed+"\x00"+n.Kind+","+n.Target, i)
		} else if mac == "" && n.Kind != "user" {
			mac = derivedMAC(seed+"\x00"+n.Kind+","+n.Target, i)
		}
		if mac != "" {
			dev += ",mac=" + mac
		}
		args = append(args, "-netdev", netdev, "-device", dev)
	}
	if users > 1 && len(publish) > 0 {
		return nil, fmt.Errorf("--publish with %d user networks: forward through one", users)
	}
	if users == 0 && len(publish) > 0 {
		return nil, fmt.Errorf("--publish needs a user network: add --networking user")
	}
	return args, nil
}

// derivedMAC is a locally administered unicast address (QEMU's 52:54:00
// prefix) that differs between VMs whose seeds differ, and stays the same
// across boots of one, so a DHCP server or a peer's ARP table keeps it.
func derivedMAC(seed string, i int) string {
	h := sha256.Sum256([]byte(seed + "\x00" + strconv.Itoa(i)))
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", h[0], h[1], h[2])
}
