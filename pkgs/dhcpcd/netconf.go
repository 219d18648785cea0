package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
)

// NetOps is the kernel's side of a link configuration: netlinkOps in the
// system, a recorder in tests.
type NetOps interface {
	LinkUp(link string) error
	ReplaceAddr(link string, addr netip.Prefix) error
	DelAddr(link string, addr netip.Prefix) error
	ReplaceRoute(link string, r Route) error
	DelRoute(link string, r Route) error
}

// Apply moves a link from one configuration (zero when none) to another:
// the address first, since routes through a gateway need it, then the
// routes; what from had and to lacks is removed.
func Apply(ops NetOps, link string, from, to Config) error {
	var errs []error
	if to.Addr.IsValid() {
		if err := ops.ReplaceAddr(link, to.Addr); err != nil {
			return fmt.Errorf("set address %s on %s: %w", to.Addr, link, err)
		}
	}
	want := routeOrder(to)
	for _, r := range routeOrder(from) {
		if !slices.Contains(want, r) || from.Addr != to.Addr {
			// The kernel drops a route with its source address; an
			// error here is that, not a failure.
			_ = ops.DelRoute(link, r)
		}
	}
	if from.Addr.IsValid() && from.Addr != to.Addr {
		if err := ops.DelAddr(link, from.Addr); err != nil {
			errs = append(errs, fmt.Errorf("remove old address %s from %s: %w", from.Addr, link, err))
		}
	}
	for _, r := range want {
		if err := ops.ReplaceRoute(link, r); err != nil {
			errs = append(errs, fmt.Errorf("add route %s via %s on %s: %w", r.Dst, r.Gateway, link, err))
		}
	}
	return errors.Join(errs...)
}

// routeOrder lists a configuration's routes so the kernel accepts each:
// a gateway outside our subnet needs a route to it on the link first, and
// link routes come before the routes that go through them.
func routeOrder(c Config) []Route {
	var direct, via []Route
	for _, r := range c.Routes {
		if !r.Gateway.IsValid() {
			direct = append(direct, r)
			continue
		}
		reachable := c.Addr.Contains(r.Gateway) || slices.ContainsFunc(c.Routes, func(d Route) bool {
			return !d.Gateway.IsValid() && d.Dst.Contains(r.Gateway)
		})
		if !reachable {
			hr := Route{Dst: netip.PrefixFrom(r.Gateway, 32)}
			if !slices.Contains(direct, hr) {
				direct = append(direct, hr)
			}
		}
		via = append(via, r)
	}
	return append(direct, via...)
}

// netlinkOps configures links through rtnetlink.
type netlinkOps struct{}

func (netlinkOps) link(name string) (netlink.Link, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("find link %s: %w", name, err)
	}
	return l, nil
}

func (o netlinkOps) LinkUp(name string) error {
	l, err := o.link(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// addr is the netlink address for p; netlink fills in the subnet's
// broadcast address.
func addr(p netip.Prefix) *netlink.Addr {
	return &netlink.Addr{IPNet: ipNet(p)}
}

func (o netlinkOps) ReplaceAddr(name string, p netip.Prefix) error {
	l, err := o.link(name)
	if err != nil {
		return err
	}
	return netlink.AddrReplace(l, addr(p))
}

func (o netlinkOps) DelAddr(name string, p netip.Prefix) error {
	l, err := o.link(name)
	if err != nil {
		return err
	}
	return netlink.AddrDel(l, addr(p))
}

func (o netlinkOps) route(name string, r Route) (*netlink.Route, error) {
	l, err := o.link(name)
	if err != nil {
		return nil, err
	}
	nr := &netlink.Route{LinkIndex: l.Attrs().Index, Dst: ipNet(r.Dst)}
	if r.Gateway.IsValid() {
		nr.Gw = r.Gateway.AsSlice()
	} else {
		nr.Scope = netlink.SCOPE_LINK
	}
	return nr, nil
}

func (o netlinkOps) ReplaceRoute(name string, r Route) error {
	nr, err := o.route(name, r)
	if err != nil {
		return err
	}
	return netlink.RouteReplace(nr)
}

func (o netlinkOps) DelRoute(name string, r Route) error {
	nr, err := o.route(name, r)
	if err != nil {
		return err
	}
	return netlink.RouteDel(nr)
}

// defaultLinks lists the links to configure when none are named: every
// Ethernet device, skipping loopback and virtual links (bridges, veths,
// tunnels) that belong to something else.
func defaultLinks() ([]string, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list network links: %w", err)
	}
	var out []string
	for _, l := range links {
		a := l.Attrs()
		if l.Type() == "device" && a.EncapType == "ether" && a.Flags&net.FlagLoopback == 0 {
			out = append(out, a.Name)
		}
	}
	return out, nil
}
