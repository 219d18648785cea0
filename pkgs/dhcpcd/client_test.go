package main

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// fakeServer is a dhcpClient whose answers the test scripts: each call
// takes the next answer for its kind, and the last one repeats.
type fakeServer struct {
	mu       sync.Mutex
	requests []answer
	renews   []answer
	calls    []string
	released chan struct{}
}

type answer struct {
	ack *dhcpv4.DHCPv4
	err error
}

func (f *fakeServer) next(kind string, list *[]answer) (*nclient4.Lease, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, kind)
	a := (*list)[0]
	if len(*list) > 1 {
		*list = (*list)[1:]
	}
	if a.err != nil {
		return nil, a.err
	}
	return &nclient4.Lease{ACK: a.ack, Offer: a.ack}, nil
}

func (f *fakeServer) Request(ctx context.Context) (*nclient4.Lease, error) {
	return f.next("request", &f.requests)
}

func (f *fakeServer) Renew(ctx context.Context, l *nclient4.Lease) (*nclient4.Lease, error) {
	return f.next("renew", &f.renews)
}

func (f *fakeServer) Release(l *nclient4.Lease) error {
	f.mu.Lock()
	f.calls = append(f.calls, "release")
	f.mu.Unlock()
	close(f.released)
	return nil
}

func (f *fakeServer) Close() error { return nil }

func (f *fakeServer) history() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// leaseACK is a lease of QEMU's kind for the given seconds.
func leaseACK(t *testing.T, addr net.IP, seconds uint32) *dhcpv4.DHCPv4 {
	return ack(t, dhcpv4.WithYourIP(addr), dhcpv4.WithNetmask(net.CIDRMask(24, 32)),
		dhcpv4.WithRouter(net.IPv4(10, 0, 2, 2)), dhcpv4.WithDNS(net.IPv4(10, 0, 2, 3)),
		dhcpv4.WithLeaseTime(seconds))
}

func newTestClient(t *testing.T, srv *fakeServer, ops NetOps) *linkClient {
	return &linkClient{
		name: "eth0", ops: ops, res: newResolver(filepath.Join(t.TempDir(), "resolv.conf")),
		dial: func(string) (dhcpClient, error) { return srv, nil },
		log:  log.New(io.Discard, "", 0),
		now:  time.Now,
	}
}

// waitFor polls until cond holds or a few seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestServeLifecycle(t *testing.T) {
	nak := &nclient4.ErrNak{}
	tests := []struct {
		name      string
		renews    []answer
		wantCalls []string // prefix of the DHCP exchanges
		wantAddr  string   // configured when the test stops it
	}{
		{"renewed at T1", []answer{{ack: leaseACK(t, net.IPv4(10, 0, 2, 15), 2)}},
			[]string{"request", "renew", "renew"}, "10.0.2.15/24"},
		{"NAK: discover again", []answer{{err: nak}, {ack: leaseACK(t, net.IPv4(10, 0, 2, 15), 3600)}},
			[]string{"request", "renew", "request"}, "10.0.2.15/24"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &fakeServer{
				requests: []answer{{ack: leaseACK(t, net.IPv4(10, 0, 2, 15), 2)}, {ack: leaseACK(t, net.IPv4(10, 0, 2, 15), 3600)}},
				renews:   tt.renews,
				released: make(chan struct{}),
			}
			rec := &lockedRecorder{}
			c := newTestClient(t, srv, rec)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- c.serve(ctx) }()
			waitFor(t, "the exchanges "+strings.Join(tt.wantCalls, ","), func() bool {
				h := srv.history()
				return len(h) >= len(tt.wantCalls) && slices.Equal(h[:len(tt.wantCalls)], tt.wantCalls)
			})
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("serve returned %v, want nil after SIGTERM", err)
			}
			select {
			case <-srv.released:
			default:
				t.Error("the lease was not released")
			}
			ops := rec.list()
			if !slices.Contains(ops, "addr eth0 "+tt.wantAddr) {
				t.Errorf("operations %q never set %s", ops, tt.wantAddr)
			}
			if last := ops[len(ops)-1]; last != "deladdr eth0 "+tt.wantAddr {
				t.Errorf("last operation %q, want the address removed after release", last)
			}
		})
	}
}

func TestLeaseExpiresWhenRenewalsFail(t *testing.T) {
	srv := &fakeServer{
		requests: []answer{{ack: leaseACK(t, net.IPv4(10, 0, 2, 15), 1)}},
		renews:   []answer{{err: errors.New("no answer")}},
		released: make(chan struct{}),
	}
	rec := &lockedRecorder{}
	c := newTestClient(t, srv, rec)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.open(); err != nil {
		t.Fatal(err)
	}
	if err := c.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.maintain(ctx); err != nil {
		t.Fatalf("maintain = %v, want nil when the lease expired", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("expiry of a 1 s lease took %s", took)
	}
	ops := rec.list()
	if last := ops[len(ops)-1]; last != "deladdr eth0 10.0.2.15/24" {
		t.Errorf("last operation %q, want the expired address removed", last)
	}
	if c.lease != nil {
		t.Error("the client still holds the expired lease")
	}
}

func TestOneshotGivesUp(t *testing.T) {
	srv := &fakeServer{requests: []answer{{err: errors.New("no offer")}}, released: make(chan struct{})}
	c := newTestClient(t, srv, &lockedRecorder{})
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	err := c.oneshot(ctx)
	if err == nil || !strings.Contains(err.Error(), "no DHCP lease on eth0") {
		t.Errorf("got %v, want an error naming the link", err)
	}
	if n := len(srv.history()); n < 2 {
		t.Errorf("got %d requests before the timeout, want retries", n)
	}
}

// lockedRecorder is a recorder safe to read while serve runs.
type lockedRecorder struct {
	mu sync.Mutex
	r  recorder
}

func (l *lockedRecorder) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.r.ops)
}

func (l *lockedRecorder) with(f func(*recorder) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return f(&l.r)
}

func (l *lockedRecorder) LinkUp(n string) error {
	return l.with(func(r *recorder) error { return r.LinkUp(n) })
}
func (l *lockedRecorder) ReplaceAddr(n string, a netip.Prefix) error {
	return l.with(func(r *recorder) error { return r.ReplaceAddr(n, a) })
}
func (l *lockedRecorder) DelAddr(n string, a netip.Prefix) error {
	return l.with(func(r *recorder) error { return r.DelAddr(n, a) })
}
func (l *lockedRecorder) ReplaceRoute(n string, rt Route) error {
	return l.with(func(r *recorder) error { return r.ReplaceRoute(n, rt) })
}
func (l *lockedRecorder) DelRoute(n string, rt Route) error {
	return l.with(func(r *recorder) error { return r.DelRoute(n, rt) })
}
