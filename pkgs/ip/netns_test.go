package main

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/keel-os/keel/internal/netnstest"
)

// state lists eth0's IPv4 addresses and main-table routes as ip prints them.
func state(t *testing.T) (up bool, mtu int, addrs, routes []string) {
	l, err := netlink.LinkByName("eth0")
	if err != nil {
		t.Errorf("eth0: %v", err)
		return
	}
	as, _ := netlink.AddrList(l, netlink.FAMILY_V4)
	for _, a := range as {
		addrs = append(addrs, a.IPNet.String())
	}
	rs, _ := netlink.RouteList(l, netlink.FAMILY_V4)
	for _, r := range rs {
		s := "default"
		if r.Dst != nil && r.Dst.String() != "0.0.0.0/0" {
			s = r.Dst.String()
		}
		if r.Gw != nil {
			s += " via " + r.Gw.String()
		}
		routes = append(routes, s)
	}
	slices.Sort(routes)
	return l.Attrs().Flags&net.FlagUp != 0, l.Attrs().MTU, addrs, routes
}

func TestBatchInNetns(t *testing.T) {
	netnstest.Run(t, func() {
		dir := t.TempDir()
		write := func(name, content string) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Error(err)
			}
			return p
		}
		// LinuxKit's static-ip batch with QEMU's numbers, and an MTU.
		up := write("up.conf", "address add 10.0.2.15/24 dev eth0\nlink set eth0 mtu 1400 up\nroute add default via 10.0.2.2 dev eth0\nroute add 192.168.0.0/16 via 10.0.2.9\n")
		if err := run([]string{"-b", up}); err != nil {
			t.Errorf("ip -b up.conf: %v", err)
			return
		}
		isUp, mtu, addrs, routes := state(t)
		if !isUp || mtu != 1400 {
			t.Errorf("eth0 up=%v mtu=%d, want up with mtu 1400", isUp, mtu)
		}
		if want := []string{"10.0.2.15/24"}; !slices.Equal(addrs, want) {
			t.Errorf("addresses %q, want %q", addrs, want)
		}
		if want := []string{"10.0.2.0/24", "192.168.0.0/16 via 10.0.2.9", "default via 10.0.2.2"}; !slices.Equal(routes, want) {
			t.Errorf("routes %q, want %q", routes, want)
		}

		// A bad line stops the batch before its good lines run.
		bad := write("bad.conf", "link set eth0 down\nneigh flush dev eth0\n")
		if err := run([]string{"-b", bad}); err == nil {
			t.Error("ip -b bad.conf: got no error, want one")
		}
		if isUp, _, _, _ := state(t); !isUp {
			t.Error("a rejected batch changed the link")
		}

		down := write("down.conf", "route del default via 10.0.2.2 dev eth0\nroute del 192.168.0.0/16 via 10.0.2.9\naddress del 10.0.2.15/24 dev eth0\nlink set dev eth0 down\n")
		if err := run([]string{"-b", down}); err != nil {
			t.Errorf("ip -b down.conf: %v", err)
			return
		}
		isUp, _, addrs, routes = state(t)
		if isUp || len(addrs) != 0 || len(routes) != 0 {
			t.Errorf("after down.conf: up=%v addresses %q routes %q, want down and empty", isUp, addrs, routes)
		}

		if err := run([]string{"address", "add", "10.0.2.15/24", "dev", "nosuch0"}); err == nil {
			t.Error("address add on a missing device: got no error, want one")
		}
	})
}
