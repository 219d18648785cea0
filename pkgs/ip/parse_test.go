package main

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func ptr(b bool) *bool { return &b }

func TestParse(t *testing.T) {
	def := netip.MustParsePrefix("0.0.0.0/0")
	tests := []struct {
		line string
		want Command
	}{
		{"address add 10.10.1.225/24 dev eth0", Command{Object: "address", Verb: "add", Dev: "eth0", Addr: netip.MustParsePrefix("10.10.1.225/24")}},
		{"addr del 10.0.2.15 dev eth0", Command{Object: "address", Verb: "del", Dev: "eth0", Addr: netip.MustParsePrefix("10.0.2.15/32")}},
		{"a add dev eth1 192.0.2.1/28", Command{Object: "address", Verb: "add", Dev: "eth1", Addr: netip.MustParsePrefix("192.0.2.1/28")}},
		{"link set eth0 up", Command{Object: "link", Verb: "set", Dev: "eth0", Up: ptr(true)}},
		{"link set dev eth0 down", Command{Object: "link", Verb: "set", Dev: "eth0", Up: ptr(false)}},
		{"link set eth0 mtu 1400 up", Command{Object: "link", Verb: "set", Dev: "eth0", Up: ptr(true), MTU: 1400}},
		{"route add default via 10.10.1.100 dev eth0", Command{Object: "route", Verb: "add", Dev: "eth0", Dst: def, Gateway: netip.MustParseAddr("10.10.1.100")}},
		{"route add default via 10.0.2.2", Command{Object: "route", Verb: "add", Dst: def, Gateway: netip.MustParseAddr("10.0.2.2")}},
		{"ro del 192.168.0.0/16 via 10.0.2.9 dev eth0", Command{Object: "route", Verb: "del", Dev: "eth0", Dst: netip.MustParsePrefix("192.168.0.0/16"), Gateway: netip.MustParseAddr("10.0.2.9")}},
		{"route add 169.254.1.1 dev eth0", Command{Object: "route", Verb: "add", Dev: "eth0", Dst: netip.MustParsePrefix("169.254.1.1/32")}},
	}
	for _, tt := range tests {
		got, err := Parse(strings.Fields(tt.line))
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.line, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", tt.line, got, tt.want)
		}
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct{ line, wantErr string }{
		{"neigh add 10.0.0.1 lladdr 00:11:22:33:44:55 dev eth0", `object "neigh" is not supported`},
		{"link add br0 type bridge", `"add" is not supported for link`},
		{"address flush dev eth0", `"flush" is not supported for address`},
		{"address add 10.0.0.1/24", "needs an address and dev DEV"},
		{"address add 10.0.0.1/24 dev eth0 label eth0:1", `unexpected "label"`},
		{"address add fe80::1/64 dev eth0", "not an IPv4"},
		{"address add 10.0.0.300/24 dev eth0", "not an IPv4"},
		{"link set eth0", "needs up, down or mtu N"},
		{"link set eth0 mtu 10", "mtu \"10\" is not a number"},
		{"link set eth0 promisc on", `unexpected "promisc"`},
		{"route add default", "needs via GW or dev DEV"},
		{"route add default via", `"via" needs a value`},
		{"route add default via eth0", `via "eth0" is not an IPv4 address`},
		{"route add 10.0.2.15/24 dev eth0", "host bits set; did you mean 10.0.2.0/24?"},
		{"route add default via 10.0.2.2 metric 100", `unexpected "metric"`},
		{"route", "is incomplete"},
	}
	for _, tt := range tests {
		_, err := Parse(strings.Fields(tt.line))
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Parse(%q) error = %v, want one containing %q", tt.line, err, tt.wantErr)
		}
	}
}

func TestParseBatch(t *testing.T) {
	// LinuxKit's static-ip example, with a comment and a blank line.
	file := "# eth0\naddress add 10.10.1.225/24 dev eth0\n\nlink set eth0 up\nroute add default via 10.10.1.100 dev eth0\n"
	cmds, err := ParseBatch("eth0.conf", strings.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cmds {
		got = append(got, c.Object+" "+c.Verb)
	}
	if want := []string{"address add", "link set", "route add"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}

	_, err = ParseBatch("eth0.conf", strings.NewReader("link set eth0 up\n\nroute add default via 10.0.2.2 table 5\n"))
	want := `eth0.conf:3: "route add default via 10.0.2.2 table 5": unexpected "table"`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got error %v, want one starting %q", err, want)
	}
}

func TestRunUsage(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{nil, "usage: ip -b FILE"},
		{[]string{"-b"}, "-b needs exactly one FILE"},
		{[]string{"-b", "/nonexistent/eth0.conf"}, "open batch file"},
		{[]string{"-force", "-b", "x"}, `object "-force" is not supported`},
	}
	for _, tt := range tests {
		err := run(tt.args)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("run(%q) error = %v, want one containing %q", tt.args, err, tt.wantErr)
		}
	}
}
