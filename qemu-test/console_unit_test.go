package qemutest

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestConsoleStopsAtStuckCPU checks that Expect gives up as soon as the
// guest kernel reports a stuck CPU, and still finds what came before.
func TestConsoleStopsAtStuckCPU(t *testing.T) {
	for _, tc := range []struct {
		name, console string
		wedged        bool
	}{
		{"healthy", "init: boot done\nsvcd: all services started\n", false},
		{"soft lockup", "init: boot done\n[   28.510585] watchdog: BUG: soft lockup - CPU#0 stuck for 26s! [containerd:141]\n", true},
		{"rcu stall", "init: boot done\n[   60.1] rcu: INFO: rcu_sched self-detected stall on CPU\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Console{grew: make(chan struct{}, 1), done: make(chan struct{}), start: time.Now()}
			c.read(strings.NewReader(tc.console))
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			if i, _, err := c.Expect(ctx, 0, regexp.MustCompile(`boot done`)); err != nil || i != 0 {
				t.Fatalf("Expect(boot done) = %d, %v; want 0, nil", i, err)
			}
			_, _, err := c.Expect(ctx, 0, regexp.MustCompile(`KEEL-CHECK-OK`))
			if err == nil {
				t.Fatal("Expect(KEEL-CHECK-OK) succeeded; want an error")
			}
			if got := strings.Contains(err.Error(), "stuck CPU"); got != tc.wedged {
				t.Errorf("error %q names a stuck CPU: got %v, want %v", err, got, tc.wedged)
			}
			if tc.wedged && ctx.Err() != nil {
				t.Errorf("Expect waited for its deadline; want it to stop at the stuck CPU")
			}
		})
	}
}
