package main

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
)

// recorder is a NetOps that writes down what it was asked to do.
type recorder struct {
	ops  []string
	fail string // an operation that fails
}

func (r *recorder) do(op string) error {
	r.ops = append(r.ops, op)
	if op == r.fail {
		return errors.New("refused")
	}
	return nil
}

func (r *recorder) LinkUp(l string) error { return r.do("up " + l) }
func (r *recorder) ReplaceAddr(l string, a netip.Prefix) error {
	return r.do(fmt.Sprintf("addr %s %s", l, a))
}
func (r *recorder) DelAddr(l string, a netip.Prefix) error {
	return r.do(fmt.Sprintf("deladdr %s %s", l, a))
}
func (r *recorder) ReplaceRoute(l string, rt Route) error {
	return r.do(fmt.Sprintf("route %s %s via %s", l, rt.Dst, rt.Gateway))
}
func (r *recorder) DelRoute(l string, rt Route) error {
	return r.do(fmt.Sprintf("delroute %s %s via %s", l, rt.Dst, rt.Gateway))
}

func TestApply(t *testing.T) {
	qemu := Config{Addr: pfx("10.0.2.15/24"), Routes: []Route{{Dst: defaultRoute, Gateway: ip("10.0.2.2")}}}
	moved := Config{Addr: pfx("10.0.2.16/24"), Routes: []Route{{Dst: defaultRoute, Gateway: ip("10.0.2.2")}}}
	tests := []struct {
		name     string
		old, new Config
		want     []string
	}{
		{"first lease", Config{}, qemu, []string{
			"addr eth0 10.0.2.15/24",
			"route eth0 0.0.0.0/0 via 10.0.2.2",
		}},
		{"renewal of the same lease", qemu, qemu, []string{
			"addr eth0 10.0.2.15/24",
			"route eth0 0.0.0.0/0 via 10.0.2.2",
		}},
		{"new address", qemu, moved, []string{
			"addr eth0 10.0.2.16/24",
			"delroute eth0 0.0.0.0/0 via 10.0.2.2",
			"deladdr eth0 10.0.2.15/24",
			"route eth0 0.0.0.0/0 via 10.0.2.2",
		}},
		{"lease lost", qemu, Config{}, []string{
			"delroute eth0 0.0.0.0/0 via 10.0.2.2",
			"deladdr eth0 10.0.2.15/24",
		}},
		{"gateway outside the subnet gets a link route first",
			Config{}, Config{Addr: pfx("203.0.113.7/32"), Routes: []Route{{Dst: defaultRoute, Gateway: ip("169.254.1.1")}}},
			[]string{
				"addr eth0 203.0.113.7/32",
				"route eth0 169.254.1.1/32 via invalid IP",
				"route eth0 0.0.0.0/0 via 169.254.1.1",
			}},
		{"gateway off the subnet: its link route goes with the lease",
			Config{Addr: pfx("203.0.113.7/32"), Routes: []Route{{Dst: defaultRoute, Gateway: ip("169.254.1.1")}}}, Config{},
			[]string{
				"delroute eth0 169.254.1.1/32 via invalid IP",
				"delroute eth0 0.0.0.0/0 via 169.254.1.1",
				"deladdr eth0 203.0.113.7/32",
			}},
		{"classless link route makes its gateways reachable",
			Config{}, Config{Addr: pfx("10.0.2.15/24"), Routes: []Route{
				{Dst: defaultRoute, Gateway: ip("172.16.0.1")},
				{Dst: pfx("172.16.0.0/12")},
			}},
			[]string{
				"addr eth0 10.0.2.15/24",
				"route eth0 172.16.0.0/12 via invalid IP",
				"route eth0 0.0.0.0/0 via 172.16.0.1",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{}
			if err := Apply(r, "eth0", tt.old, tt.new); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.ops, tt.want) {
				t.Errorf("got operations %q\nwant %q", r.ops, tt.want)
			}
		})
	}
}

func TestApplyReportsFailures(t *testing.T) {
	c := Config{Addr: pfx("10.0.2.15/24"), Routes: []Route{{Dst: defaultRoute, Gateway: ip("10.0.2.2")}}}
	for _, fail := range []string{"addr eth0 10.0.2.15/24", "route eth0 0.0.0.0/0 via 10.0.2.2"} {
		r := &recorder{fail: fail}
		if err := Apply(r, "eth0", Config{}, c); err == nil {
			t.Errorf("Apply with %q failing: got no error, want one", fail)
		}
	}
}
