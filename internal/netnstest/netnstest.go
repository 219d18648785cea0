// Package netnstest runs test code in a throw-away network namespace, for
// the root-only tests of the packages that configure links through netlink.
package netnstest

import (
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Run runs f in a new network namespace holding a veth pair eth0 / peer0,
// on a thread of its own that is never handed back: the thread, and the
// namespace with it, end when f returns. f must report with t.Error, not
// t.Fatal, as it runs off the test's goroutine. Without root it skips.
func Run(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		ns, err := netns.New()
		if err != nil {
			t.Errorf("new network namespace: %v", err)
			return
		}
		defer ns.Close()
		if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "peer0"}); err != nil {
			t.Errorf("add veth pair: %v", err)
			return
		}
		f()
	}()
	<-done
}
