package main

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// Route is one IPv4 route a lease asks for. A zero Gateway is a route
// straight onto the link (RFC 3442 allows those).
type Route struct {
	Dst     netip.Prefix
	Gateway netip.Addr
}

// Config is what a lease asks the system to set up on one link, and when
// the lease must be renewed, rebound and given up.
type Config struct {
	Addr   netip.Prefix // our address with the subnet's prefix length
	Routes []Route
	DNS    []netip.Addr
	Search []string // domain search list; the domain name when there is none
	Server netip.Addr
	// Refused holds the domain names the server sent that are not valid
	// DNS names: left out of Search, kept to be logged.
	Refused []string

	Lease, T1, T2 time.Duration
}

// Lease times used when a server leaves them out. RFC 2131 4.4.5 gives
// T1 = 0.5 and T2 = 0.875 of the lease; a missing lease time is a server
// bug, so an hour is a guess that keeps us asking regularly.
const defaultLeaseTime = time.Hour

// configFromACK turns a server's ACK into the configuration to apply.
func configFromACK(ack *dhcpv4.DHCPv4) (Config, error) {
	ip, ok := netip.AddrFromSlice(ack.YourIPAddr.To4())
	if !ok || !ip.IsValid() || ip.IsUnspecified() {
		return Config{}, fmt.Errorf("the server's ACK carries no address (yiaddr %v)", ack.YourIPAddr)
	}
	mask := ack.SubnetMask()
	if mask == nil {
		mask = net.IP(ip.AsSlice()).DefaultMask()
	}
	ones, bits := mask.Size()
	if bits != 32 {
		return Config{}, fmt.Errorf("the server's subnet mask %v is not a valid IPv4 mask", mask)
	}
	c := Config{Addr: netip.PrefixFrom(ip, ones)}
	if s, ok := netip.AddrFromSlice(ack.ServerIdentifier().To4()); ok {
		c.Server = s
	}

	// RFC 3442: when classless static routes are given, the router option
	// must be ignored.
	if csr := ack.ClasslessStaticRoute(); len(csr) > 0 {
		for _, r := range csr {
			dst, ok := prefixFromIPNet(r.Dest)
			if !ok {
				continue
			}
			gw, _ := netip.AddrFromSlice(r.Router.To4())
			if gw.IsUnspecified() {
				gw = netip.Addr{}
			}
			c.Routes = append(c.Routes, Route{Dst: dst, Gateway: gw})
		}
	} else if routers := ack.Router(); len(routers) > 0 {
		if gw, ok := netip.AddrFromSlice(routers[0].To4()); ok {
			c.Routes = append(c.Routes, Route{Dst: netip.PrefixFrom(netip.IPv4Unspecified(), 0), Gateway: gw})
		}
	}

	for _, d := range ack.DNS() {
		if a, ok := netip.AddrFromSlice(d.To4()); ok {
			c.DNS = append(c.DNS, a)
		}
	}
	var names []string
	if s := ack.DomainSearch(); s != nil && len(s.Labels) > 0 {
		names = s.Labels
	} else if d := ack.DomainName(); d != "" {
		names = []string{d}
	}
	for _, n := range names {
		if validDNSName(n) {
			c.Search = append(c.Search, n)
		} else {
			c.Refused = append(c.Refused, n)
		}
	}

	c.Lease = ack.IPAddressLeaseTime(defaultLeaseTime)
	if c.Lease <= 0 {
		c.Lease = defaultLeaseTime
	}
	c.T1 = ack.IPAddressRenewalTime(c.Lease / 2)
	c.T2 = ack.IPAddressRebindingTime(c.Lease * 7 / 8)
	// Servers can send inconsistent times; RFC 2131 wants T1 < T2 < lease.
	if c.T2 <= 0 || c.T2 >= c.Lease {
		c.T2 = c.Lease * 7 / 8
	}
	if c.T1 <= 0 || c.T1 >= c.T2 {
		c.T1 = c.T2 * 4 / 7
	}
	return c, nil
}

func prefixFromIPNet(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP.To4())
	if !ok {
		return netip.Prefix{}, false
	}
	ones, bits := n.Mask.Size()
	if bits != 32 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, ones).Masked(), true
}

// Phase is where a lease is in its life (RFC 2131 4.4.5).
type Phase int

const (
	Bound     Phase = iota // before T1: nothing to do
	Renewing               // T1..T2: ask the server that gave the lease
	Rebinding              // T2..expiry: ask any server
	Expired                // the address must be dropped
)

func (p Phase) String() string {
	return [...]string{"bound", "renewing", "rebinding", "expired"}[p]
}

// minRetry is the shortest wait between renewal attempts: RFC 2131 4.4.5
// says to halve the time left, down to 60 seconds.
const minRetry = 60 * time.Second

// Schedule says where a lease obtained at start is at now, and when to
// act next: at T1 while bound, then after half the time left in the
// phase (at least minRetry, never past the phase's end) when an attempt
// failed.
func Schedule(c Config, start, now time.Time) (Phase, time.Time) {
	t1, t2, end := start.Add(c.T1), start.Add(c.T2), start.Add(c.Lease)
	var phaseEnd time.Time
	var p Phase
	switch {
	case now.Before(t1):
		return Bound, t1
	case now.Before(t2):
		p, phaseEnd = Renewing, t2
	case now.Before(end):
		p, phaseEnd = Rebinding, end
	default:
		return Expired, now
	}
	next := now.Add(max(phaseEnd.Sub(now)/2, minRetry))
	if next.After(phaseEnd) {
		next = phaseEnd
	}
	return p, next
}
