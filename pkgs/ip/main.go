// Command ip configures addresses, links and routes through netlink. It
// implements the part of iproute2's `ip` that LinuxKit's static-ip setups
// use, `ip -b FILE` batches included, so those specs run unchanged on
// Keel, whose package builder cannot bring iproute2's shared libraries.
// Anything outside that part is refused with the line that asked for it.
package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
)

const usage = `usage: ip -b FILE
       ip OBJECT COMMAND...
` + supported

// run parses the command line and carries the commands out in order,
// stopping at the first failure as iproute2 does without -force.
func run(args []string) error {
	var cmds []Command
	switch {
	case len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help":
		return errors.New(usage)
	case args[0] == "-b" || args[0] == "-batch":
		if len(args) != 2 {
			return fmt.Errorf("-b needs exactly one FILE\n%s", usage)
		}
		f, err := os.Open(args[1])
		if err != nil {
			return fmt.Errorf("open batch file: %w", err)
		}
		defer f.Close()
		if cmds, err = ParseBatch(args[1], f); err != nil {
			return err
		}
	default:
		c, err := Parse(args)
		if err != nil {
			return err
		}
		cmds = []Command{c}
	}
	for _, c := range cmds {
		if err := apply(c); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "ip:", err)
		os.Exit(1)
	}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}

// apply carries one command out.
func apply(c Command) error {
	var link netlink.Link
	if c.Dev != "" {
		var err error
		if link, err = netlink.LinkByName(c.Dev); err != nil {
			return fmt.Errorf("device %q: %w (is its driver loaded? `ip link` on the console lists the devices)", c.Dev, err)
		}
	}
	switch c.Object {
	case "address":
		a := &netlink.Addr{IPNet: ipNet(c.Addr)}
		if c.Verb == "add" {
			// netlink adds the subnet's broadcast address, as `brd +`.
			if err := netlink.AddrAdd(link, a); err != nil {
				return fmt.Errorf("address add %s dev %s: %w", c.Addr, c.Dev, err)
			}
			return nil
		}
		if err := netlink.AddrDel(link, a); err != nil {
			return fmt.Errorf("address del %s dev %s: %w", c.Addr, c.Dev, err)
		}
	case "link":
		if c.MTU != 0 {
			if err := netlink.LinkSetMTU(link, c.MTU); err != nil {
				return fmt.Errorf("link set %s mtu %d: %w", c.Dev, c.MTU, err)
			}
		}
		if c.Up != nil {
			set, word := netlink.LinkSetDown, "down"
			if *c.Up {
				set, word = netlink.LinkSetUp, "up"
			}
			if err := set(link); err != nil {
				return fmt.Errorf("link set %s %s: %w", c.Dev, word, err)
			}
		}
	case "route":
		r := &netlink.Route{Dst: ipNet(c.Dst)}
		if link != nil {
			r.LinkIndex = link.Attrs().Index
		}
		if c.Gateway.IsValid() {
			r.Gw = c.Gateway.AsSlice()
		} else {
			r.Scope = netlink.SCOPE_LINK
		}
		f, verb := netlink.RouteAdd, "add"
		if c.Verb == "del" {
			f, verb = netlink.RouteDel, "del"
		}
		if err := f(r); err != nil {
			return fmt.Errorf("route %s %s: %w", verb, c.Dst, err)
		}
	}
	return nil
}
