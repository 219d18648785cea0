package main

import (
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

func ack(t *testing.T, mods ...dhcpv4.Modifier) *dhcpv4.DHCPv4 {
	t.Helper()
	base := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(dhcpv4.MessageTypeAck),
		dhcpv4.WithYourIP(net.IPv4(10, 0, 2, 15)),
		dhcpv4.WithServerIP(net.IPv4(10, 0, 2, 2)),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(10, 0, 2, 2))),
	}
	m, err := dhcpv4.New(append(base, mods...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

var defaultRoute = pfx("0.0.0.0/0")

func TestConfigFromACK(t *testing.T) {
	mask24 := dhcpv4.WithNetmask(net.CIDRMask(24, 32))
	tests := []struct {
		name string
		mods []dhcpv4.Modifier
		want Config
	}{
		{"qemu user network", []dhcpv4.Modifier{mask24,
			dhcpv4.WithRouter(net.IPv4(10, 0, 2, 2)),
			dhcpv4.WithDNS(net.IPv4(10, 0, 2, 3)),
			dhcpv4.WithLeaseTime(86400)},
			Config{Addr: pfx("10.0.2.15/24"), Server: ip("10.0.2.2"),
				Routes: []Route{{Dst: defaultRoute, Gateway: ip("10.0.2.2")}},
				DNS:    []netip.Addr{ip("10.0.2.3")},
				Lease:  24 * time.Hour, T1: 12 * time.Hour, T2: 21 * time.Hour}},
		{"no mask: the class's", nil,
			Config{Addr: pfx("10.0.2.15/8"), Server: ip("10.0.2.2"),
				Lease: time.Hour, T1: 30 * time.Minute, T2: 52*time.Minute + 30*time.Second}},
		{"classless routes win over the router option", []dhcpv4.Modifier{mask24,
			dhcpv4.WithRouter(net.IPv4(10, 0, 2, 2)),
			dhcpv4.WithOption(dhcpv4.OptClasslessStaticRoute(
				&dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4(192, 168, 0, 0).To4(), Mask: net.CIDRMask(16, 32)}, Router: net.IPv4(10, 0, 2, 9)},
				&dhcpv4.Route{Dest: &net.IPNet{IP: net.IPv4(172, 16, 0, 0).To4(), Mask: net.CIDRMask(12, 32)}, Router: net.IPv4zero},
			))},
			Config{Addr: pfx("10.0.2.15/24"), Server: ip("10.0.2.2"),
				Routes: []Route{{Dst: pfx("192.168.0.0/16"), Gateway: ip("10.0.2.9")}, {Dst: pfx("172.16.0.0/12")}},
				Lease:  time.Hour, T1: 30 * time.Minute, T2: 52*time.Minute + 30*time.Second}},
		{"search list wins over domain name", []dhcpv4.Modifier{mask24,
			dhcpv4.WithDomainSearchList("a.example", "b.example"),
			dhcpv4.WithOption(dhcpv4.OptDomainName("c.example"))},
			Config{Addr: pfx("10.0.2.15/24"), Server: ip("10.0.2.2"), Search: []string{"a.example", "b.example"},
				Lease: time.Hour, T1: 30 * time.Minute, T2: 52*time.Minute + 30*time.Second}},
		{"domain name alone", []dhcpv4.Modifier{mask24, dhcpv4.WithOption(dhcpv4.OptDomainName("c.example"))},
			Config{Addr: pfx("10.0.2.15/24"), Server: ip("10.0.2.2"), Search: []string{"c.example"},
				Lease: time.Hour, T1: 30 * time.Minute, T2: 52*time.Minute + 30*time.Second}},
		{"server's T1 and T2", []dhcpv4.Modifier{mask24, dhcpv4.WithLeaseTime(1000),
			dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(100 * time.Second)),
			dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(200 * time.Second))},
			Config{Addr: pfx("10.0.2.15/24"), Server: ip("10.0.2.2"),
				Lease: 1000 * time.Second, T1: 100 * time.Second, T2: 200 * time.Second}},
		{"T2 past the lease and T1 past T2 are fixed", []dhcpv4.Modifier{mask24, dhcpv4.WithLeaseTime(800),
			dhcpv4.WithOption(dhcpv4.OptRenewTimeValue(900 * time.Second)),
			dhcpv4.WithOption(dhcpv4.OptRebindingTimeValue(900 * time.Second))},
			Config{Addr: pfx("10.0.2.15/24"), Server: ip("10.0.2.2"),
				Lease: 800 * time.Second, T1: 400 * time.Second, T2: 700 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := configFromACK(ack(t, tt.mods...))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestConfigFromACKWithoutAddress(t *testing.T) {
	m := ack(t, dhcpv4.WithYourIP(net.IPv4zero))
	if _, err := configFromACK(m); err == nil {
		t.Error("got no error for an ACK without yiaddr, want one")
	}
}

func TestSchedule(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := Config{Lease: 1000 * time.Second, T1: 500 * time.Second, T2: 875 * time.Second}
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	tests := []struct {
		now       float64
		wantPhase Phase
		wantNext  float64
	}{
		{0, Bound, 500},
		{499, Bound, 500},
		{500, Renewing, 687.5},  // half of the 375 s left to T2
		{800, Renewing, 860},    // half of 75 s is under a minute: wait 60 s
		{850, Renewing, 875},    // a minute would pass T2: stop at T2
		{875, Rebinding, 937.5}, // half of the 125 s left to expiry
		{990, Rebinding, 1000},
		{1000, Expired, 1000},
		{5000, Expired, 5000},
	}
	for _, tt := range tests {
		p, next := Schedule(c, start, at(tt.now))
		if p != tt.wantPhase || !next.Equal(at(tt.wantNext)) {
			t.Errorf("Schedule at %gs = %s, %s; want %s, %gs", tt.now, p, next.Sub(start), tt.wantPhase, tt.wantNext)
		}
	}
}

func TestRetryWait(t *testing.T) {
	for n, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute} {
		if got := retryWait(n); got != want {
			t.Errorf("retryWait(%d) = %s, want %s", n, got, want)
		}
	}
	if got := retryWait(1000); got != time.Minute {
		t.Errorf("retryWait(1000) = %s, want 1m", got)
	}
}

func TestValidDNSName(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"example.com", true}, {"example.com.", true}, {"a", true}, {"x-1.Example.ORG", true},
		{"123.example", true}, {strings.Repeat("a", 63) + ".example", true},
		{"", false}, {".", false}, {"..", false}, {"a..b", false}, {".a", false},
		{"-a.example", false}, {"a-.example", false}, {"a b.example", false},
		{"evil.example\nnameserver 6.6.6.6", false}, {"evil.example\rnameserver 6.6.6.6", false},
		{"a\x00b", false}, {"under_score.example", false}, {"ex#ample", false}, {"exämple.com", false},
		{strings.Repeat("a", 64) + ".example", false},
		{strings.Repeat("a.", 127) + "ab", false}, // 256 bytes
	}
	for _, tt := range tests {
		if got := validDNSName(tt.in); got != tt.want {
			t.Errorf("validDNSName(%q): got %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestDomainInjectionDropped: a domain name or search list entry carrying a
// newline never reaches resolv.conf; it is refused, to be logged.
func TestDomainInjectionDropped(t *testing.T) {
	mask24 := dhcpv4.WithNetmask(net.CIDRMask(24, 32))
	evil := "evil.example\nnameserver 6.6.6.6"
	tests := []struct {
		name        string
		mods        []dhcpv4.Modifier
		wantSearch  []string
		wantRefused []string
	}{
		{"domain name", []dhcpv4.Modifier{mask24, dhcpv4.WithOption(dhcpv4.OptDomainName(evil))},
			nil, []string{evil}},
		{"search list", []dhcpv4.Modifier{mask24, dhcpv4.WithDomainSearchList("good.example", evil, "also.good")},
			[]string{"good.example", "also.good"}, []string{evil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := configFromACK(ack(t, tt.mods...))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c.Search, tt.wantSearch) || len(c.Refused) != len(tt.wantRefused) {
				t.Errorf("got search %q, refused %q; want search %q, refused %q", c.Search, c.Refused, tt.wantSearch, tt.wantRefused)
			}
			c.DNS = []netip.Addr{ip("10.0.2.3")}
			rc := ResolvConf(map[string]Config{"eth0": c})
			if strings.Contains(rc, "6.6.6.6") || strings.Contains(rc, "evil") {
				t.Errorf("resolv.conf carries the injected line:\n%s", rc)
			}
		})
	}
	// ResolvConf refuses such a name even when handed one directly.
	rc := ResolvConf(map[string]Config{"eth0": {Search: []string{evil}}})
	if strings.Contains(rc, "6.6.6.6") {
		t.Errorf("ResolvConf of a raw search entry: got\n%s", rc)
	}
}
