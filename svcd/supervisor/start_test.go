package supervisor

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keel-os/keel/svcd/api"
	"github.com/keel-os/keel/svcd/logs"
	"github.com/keel-os/keel/svcd/runner"
)

// countingRunner reports running, then blocks until cancelled, counting
// how many of its runs are alive at once.
type countingRunner struct {
	live, peak, runs atomic.Int32
	// hold, when set, keeps every run from reporting running until it
	// is closed.
}

func (c *countingRunner) Run(ctx context.Context, notify runner.Notify) (int, error) {
	c.runs.Add(1)
	n := c.live.Add(1)
	defer c.live.Add(-1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			break
		}
	}
	// A real start takes a while before it reports running: the window
	// a second Start used to slip through.
	time.Sleep(5 * time.Millisecond)
	notify(runner.Event{State: runner.StateRunning, Pid: 1})
	<-ctx.Done()
	return 143, nil
}

// fakeSupervisor has one service, web, whose runner is r and a containerd
// client that is never asked for a runner (web's is already built).
func fakeSupervisor(r runner.Runner) *Supervisor {
	u := Unit{Name: "web", ID: "web", Phase: api.PhaseService}
	s := &Supervisor{
		cfg:      Config{Logs: logs.NewStore(io.Discard)},
		table:    NewTable(),
		services: []Unit{u},
		svcs:     map[string]*service{"web": {unit: u, r: r}},
		client:   fakeClient{&fakeRunners{}},
	}
	s.table.Add(u.Name, u.Phase)
	return s
}

// TestConcurrentStartsRunOneSupervisor: many `svcctl start web` at once
// start web once; the others are told it is already running, and one stop
// leaves nothing running (a second restart loop would have restarted it).
func TestConcurrentStartsRunOneSupervisor(t *testing.T) {
	// The window is narrow; a few rounds find it reliably.
	for round := range 20 {
		if !concurrentStarts(t) {
			t.Fatalf("round %d failed", round)
		}
	}
}

func concurrentStarts(t *testing.T) bool {
	r := &countingRunner{}
	s := fakeSupervisor(r)
	const n = 16
	var wg sync.WaitGroup
	var ok, conflict atomic.Int32
	start := make(chan struct{})
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := s.Start("web")
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, api.ErrConflict):
				conflict.Add(1)
			default:
				t.Errorf("Start: got %v, want nil or a conflict", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := ok.Load(); got != 1 {
		t.Errorf("successful Starts: got %d, want 1", got)
	}
	if got := conflict.Load(); got != n-1 {
		t.Errorf("Starts refused as already running: got %d, want %d", got, n-1)
	}
	if got := r.peak.Load(); got != 1 {
		t.Errorf("runs alive at once: got %d, want 1", got)
	}
	if err := s.Stop("web"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got := r.live.Load(); got != 0 {
		t.Errorf("runs alive after Stop: got %d, want 0", got)
	}
	return !t.Failed()
}

// TestBootAfterStartStartsOnce: a service started by hand while boot
// waited for its dependencies is not started a second time when they come
// up.
func TestBootAfterStartStartsOnce(t *testing.T) {
	r := &countingRunner{}
	s := fakeSupervisor(r)
	if err := s.Start("web"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	s.startService(context.Background(), s.client, s.svcs["web"])
	if got := r.runs.Load(); got != 1 {
		t.Errorf("runs started: got %d, want 1", got)
	}
	if err := s.Stop("web"); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got := r.live.Load(); got != 0 {
		t.Errorf("runs alive after Stop: got %d, want 0", got)
	}
}
