package main

import (
	"slices"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/keel-os/keel/internal/netnstest"
)

// kernelState lists eth0's IPv4 addresses (with broadcast) and routes.
func kernelState(t *testing.T) (addrs, routes []string) {
	l, err := netlink.LinkByName("eth0")
	if err != nil {
		t.Errorf("eth0: %v", err)
		return
	}
	as, _ := netlink.AddrList(l, netlink.FAMILY_V4)
	for _, a := range as {
		addrs = append(addrs, a.IPNet.String()+" brd "+a.Broadcast.String())
	}
	rs, _ := netlink.RouteList(l, netlink.FAMILY_V4)
	for _, r := range rs {
		s := "0.0.0.0/0"
		if r.Dst != nil {
			s = r.Dst.String()
		}
		if r.Gw != nil {
			s += " via " + r.Gw.String()
		}
		routes = append(routes, s)
	}
	slices.Sort(routes)
	return addrs, routes
}

// TestNetlinkOpsInNetns applies leases to a real link through netlink: a
// first lease, a move to another address and subnet with a gateway off
// the subnet, and the lease's loss.
func TestNetlinkOpsInNetns(t *testing.T) {
	netnstest.Run(t, func() {
		ops := netlinkOps{}
		if err := ops.LinkUp("eth0"); err != nil {
			t.Errorf("LinkUp: %v", err)
			return
		}
		steps := []struct {
			name       string
			cfg        Config
			wantAddrs  []string
			wantRoutes []string
		}{
			{"qemu lease", Config{Addr: pfx("10.0.2.15/24"), Routes: []Route{{Dst: defaultRoute, Gateway: ip("10.0.2.2")}}},
				[]string{"10.0.2.15/24 brd 10.0.2.255"},
				[]string{"0.0.0.0/0 via 10.0.2.2", "10.0.2.0/24"}},
			{"moved, gateway off the subnet", Config{Addr: pfx("203.0.113.7/32"), Routes: []Route{{Dst: defaultRoute, Gateway: ip("169.254.1.1")}}},
				[]string{"203.0.113.7/32 brd <nil>"},
				[]string{"0.0.0.0/0 via 169.254.1.1", "169.254.1.1/32"}},
			{"lease lost", Config{}, nil, nil},
		}
		var prev Config
		for _, s := range steps {
			if err := Apply(ops, "eth0", prev, s.cfg); err != nil {
				t.Errorf("%s: Apply: %v", s.name, err)
				return
			}
			prev = s.cfg
			addrs, routes := kernelState(t)
			if !slices.Equal(addrs, s.wantAddrs) || !slices.Equal(routes, s.wantRoutes) {
				t.Errorf("%s: got addresses %q routes %q, want %q %q", s.name, addrs, routes, s.wantAddrs, s.wantRoutes)
			}
		}

		// Only Ethernet devices are configured by default: not loopback,
		// and not the virtual veth pair.
		links, err := defaultLinks()
		if err != nil || len(links) != 0 {
			t.Errorf("defaultLinks = %q, %v; want none in a namespace of loopback and veths", links, err)
		}
	})
}
