package qemutest

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// TestSocketLink boots two VMs of one image joined by a socket link
// (--networking socket,listen= and socket,connect= on a loopback port):
// each gets its own MAC without being told, and each pings the other
// over the link.
func TestSocketLink(t *testing.T) {
	require(t)
	prefix := buildImage(t, "examples/minimal.yml", "qemu-test/testdata/net-link.yml")
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	boot := func(mode, self, peer string) *Console {
		n, err := run.ParseNetwork("socket," + mode + "=" + addr)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Boot(ctx, &run.QEMU{Prefix: prefix, Mem: 1024, Networks: []run.Network{n},
			ExtraCmdline: "linktest.addr=" + self + " linktest.peer=" + peer})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Kill)
		return c
	}
	a := boot("listen", "10.77.0.1", "10.77.0.2")
	// The connecting end needs the listener up.
	waitListening(ctx, t, addr)
	b := boot("connect", "10.77.0.2", "10.77.0.1")
	for name, c := range map[string]*Console{"listening VM": a, "connecting VM": b} {
		i, at, err := c.Expect(ctx, 0, regexp.MustCompile(`LINK-(OK|FAIL)`))
		if err != nil {
			t.Fatalf("%s: no link result: %v\nlast console lines:\n%s", name, err, c.Tail(60))
		}
		line := c.Lines(i, i+1)[0]
		if !regexp.MustCompile(`LINK-OK`).MatchString(line) {
			t.Errorf("%s: %s\nlast console lines:\n%s", name, line, c.Tail(60))
		}
		t.Logf("%s at %.1fs: %s", name, at.Seconds(), line)
	}
}

// waitListening returns once addr accepts connections. The probe
// connection is closed at once; QEMU's socket netdev takes the next.
func waitListening(ctx context.Context, t *testing.T, addr string) {
	t.Helper()
	for ctx.Err() == nil {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}
