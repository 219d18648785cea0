package runner

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// blockingRunner reports running and blocks until cancelled, as a service
// does.
type blockingRunner struct{ cancelled bool }

func (b *blockingRunner) Run(ctx context.Context, notify Notify) (int, error) {
	notify(Event{State: StateRunning, Pid: 42})
	<-ctx.Done()
	b.cancelled = true
	return 143, nil
}

// scriptedProbe returns the next scripted result; after the script it
// returns the last one.
type scriptedProbe struct {
	mu      sync.Mutex
	results []error
	n       int
	pids    []int
}

func (p *scriptedProbe) Probe(_ context.Context, pid int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pids = append(p.pids, pid)
	r := p.results[min(p.n, len(p.results)-1)]
	p.n++
	return r
}

func TestHealthCheck(t *testing.T) {
	bad := errors.New("refused")
	tests := []struct {
		name       string
		results    []error
		retries    int
		grace      int // probes that fall inside the start period
		wantProbes int
		wantHealth []Health
	}{
		{"healthy then three failures", []error{nil, bad, bad, bad}, 3, 0, 4,
			[]Health{HealthStarting, HealthHealthy, HealthUnhealthy}},
		{"never healthy", []error{bad}, 2, 0, 2, []Health{HealthStarting, HealthUnhealthy}},
		{"a pass resets the count", []error{bad, nil, bad, nil, bad, bad}, 2, 0, 6,
			[]Health{HealthStarting, HealthHealthy, HealthUnhealthy}},
		{"start period failures do not count", []error{bad, bad, bad, nil, bad}, 1, 3, 5,
			[]Health{HealthStarting, HealthHealthy, HealthUnhealthy}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := &scriptedProbe{results: tc.results}
			inner := &blockingRunner{}
			// The fake clock moves one second per probe; the start period
			// covers the first tc.grace probes.
			var clock time.Time
			var mu sync.Mutex
			h := &HealthCheck{Runner: inner, Probe: p, Retries: tc.retries, Interval: time.Second,
				StartPeriod: time.Duration(tc.grace)*time.Second + 500*time.Millisecond,
				Sleep:       func(ctx context.Context, d time.Duration) error { return ctx.Err() },
				Now: func() time.Time {
					mu.Lock()
					defer mu.Unlock()
					r := clock
					clock = clock.Add(time.Second)
					return r
				}}
			// Now is read once for the start and once per probe; the first
			// read sets the origin.
			var health []Health
			code, err := h.Run(context.Background(), func(e Event) {
				if e.Health != "" {
					health = append(health, e.Health)
				}
			})
			if !errors.Is(err, ErrUnhealthy) || code != 143 {
				t.Errorf("result: got %d, %v, want 143, unhealthy", code, err)
			}
			if !inner.cancelled {
				t.Error("inner runner: got not stopped, want stopped when unhealthy")
			}
			if p.n != tc.wantProbes {
				t.Errorf("probes: got %d, want %d", p.n, tc.wantProbes)
			}
			if len(health) != len(tc.wantHealth) {
				t.Fatalf("health events: got %v, want %v", health, tc.wantHealth)
			}
			for i := range health {
				if health[i] != tc.wantHealth[i] {
					t.Errorf("health event %d: got %s, want %s", i, health[i], tc.wantHealth[i])
				}
			}
			if p.pids[0] != 42 {
				t.Errorf("probed pid: got %d, want 42", p.pids[0])
			}
		})
	}
}

func TestHealthCheckStoppedFromOutside(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := &scriptedProbe{results: []error{nil}}
	h := &HealthCheck{Runner: &blockingRunner{}, Probe: p, Interval: time.Second,
		Sleep: func(ctx context.Context, d time.Duration) error { cancel(); return ctx.Err() }}
	code, err := h.Run(ctx, nil)
	if err != nil || code != 143 {
		t.Errorf("got %d, %v, want 143, nil: a stop is not a health failure", code, err)
	}
}

func TestFileProbe(t *testing.T) {
	proc := t.TempDir()
	if err := os.MkdirAll(filepath.Join(proc, "7", "root", "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	p := FileProbe{Path: "/run/ready", ProcRoot: proc}
	if err := p.Probe(context.Background(), 7); err == nil {
		t.Error("before the file exists: got healthy, want an error")
	}
	if err := os.WriteFile(filepath.Join(proc, "7", "root", "run", "ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Probe(context.Background(), 7); err != nil {
		t.Errorf("after the file exists: got %v, want healthy", err)
	}
}

func TestExecProbe(t *testing.T) {
	tests := []struct {
		code    int
		err     error
		wantErr bool
	}{{0, nil, false}, {1, nil, true}, {-1, errors.New("no task"), true}}
	for _, tc := range tests {
		p := ExecProbe{Args: []string{"true"}, Exec: func(context.Context, []string) (int, error) { return tc.code, tc.err }}
		if err := p.Probe(context.Background(), 1); (err != nil) != tc.wantErr {
			t.Errorf("exit %d, %v: got %v, want error %v", tc.code, tc.err, err, tc.wantErr)
		}
	}
}
