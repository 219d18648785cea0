package runner

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeRunner returns the next scripted result on each Run.
type fakeRunner struct {
	results []result
	runs    int
	// cancel, if set, is called during the run numbered cancelAt (1-based).
	cancel   context.CancelFunc
	cancelAt int
}

type result struct {
	code int
	err  error
}

func (f *fakeRunner) Run(ctx context.Context, notify Notify) (int, error) {
	f.runs++
	notify(Event{State: StateRunning, Pid: 100 + f.runs})
	if f.cancel != nil && f.runs == f.cancelAt {
		f.cancel()
	}
	r := f.results[len(f.results)-1]
	if f.runs <= len(f.results) {
		r = f.results[f.runs-1]
	}
	return r.code, r.err
}

func TestParsePolicy(t *testing.T) {
	def := Policy{Mode: RestartOnFailure}
	tests := []struct {
		in      string
		want    Policy
		wantErr bool
	}{
		{"", def, false},
		{"no", Policy{Mode: RestartNo}, false},
		{"always", Policy{Mode: RestartAlways}, false},
		{"unless-stopped", Policy{Mode: RestartAlways}, false},
		{"on-failure", Policy{Mode: RestartOnFailure}, false},
		{"on-failure:3", Policy{Mode: RestartOnFailure, MaxRestarts: 3}, false},
		{"on-failure:0", Policy{Mode: RestartOnFailure}, false},
		{"on-failure:x", Policy{}, true},
		{"on-failure:-1", Policy{}, true},
		{"sometimes", Policy{}, true},
	}
	for _, tc := range tests {
		got, err := ParsePolicy(tc.in, def)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParsePolicy(%q): got error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if got != tc.want {
			t.Errorf("ParsePolicy(%q): got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestRestart(t *testing.T) {
	boom := errors.New("boom")
	b := Backoff{Initial: time.Second, Max: 4 * time.Second}
	tests := []struct {
		name       string
		policy     Policy
		results    []result
		wantRuns   int
		wantCode   int
		wantErr    error
		wantDelays []time.Duration
	}{
		{"no never restarts", Policy{Mode: RestartNo}, []result{{1, nil}}, 1, 1, nil, nil},
		{"on-failure stops at success", Policy{Mode: RestartOnFailure}, []result{{1, nil}, {2, nil}, {0, nil}}, 3, 0, nil,
			[]time.Duration{time.Second, 2 * time.Second}},
		{"on-failure restarts on error", Policy{Mode: RestartOnFailure}, []result{{-1, boom}, {0, nil}}, 2, 0, nil,
			[]time.Duration{time.Second}},
		{"on-failure:2 gives up", Policy{Mode: RestartOnFailure, MaxRestarts: 2}, []result{{1, nil}}, 3, 1, nil,
			[]time.Duration{time.Second, 2 * time.Second}},
		{"on-failure:2 error kept", Policy{Mode: RestartOnFailure, MaxRestarts: 2}, []result{{-1, boom}}, 3, -1, boom,
			[]time.Duration{time.Second, 2 * time.Second}},
		{"backoff caps at max", Policy{Mode: RestartOnFailure, MaxRestarts: 5}, []result{{1, nil}}, 6, 1, nil,
			[]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRunner{results: tc.results}
			var delays []time.Duration
			r := WithRestart(f, tc.policy, b)
			r.Sleep = func(ctx context.Context, d time.Duration) error { delays = append(delays, d); return nil }
			var events []Event
			code, err := r.Run(context.Background(), func(e Event) { events = append(events, e) })
			if f.runs != tc.wantRuns {
				t.Errorf("runs: got %d, want %d", f.runs, tc.wantRuns)
			}
			if code != tc.wantCode || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("result: got %d, %v, want %d, %v", code, err, tc.wantCode, tc.wantErr)
			}
			if len(delays) != len(tc.wantDelays) {
				t.Fatalf("delays: got %v, want %v", delays, tc.wantDelays)
			}
			for i := range delays {
				if delays[i] != tc.wantDelays[i] {
					t.Errorf("delay %d: got %v, want %v", i, delays[i], tc.wantDelays[i])
				}
			}
			// Every run reports running, stamped with the restarts so far,
			// and every restart is announced with its count.
			restarts := 0
			for _, e := range events {
				switch e.State {
				case StateRunning:
					if e.Restarts != restarts {
						t.Errorf("running event: got restarts %d, want %d", e.Restarts, restarts)
					}
				case StateBackoff:
					restarts++
					if e.Restarts != restarts {
						t.Errorf("restarting event: got restarts %d, want %d", e.Restarts, restarts)
					}
				}
			}
			if restarts != tc.wantRuns-1 {
				t.Errorf("restarting events: got %d, want %d", restarts, tc.wantRuns-1)
			}
		})
	}
}

func TestRestartStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeRunner{results: []result{{137, nil}}, cancel: cancel, cancelAt: 2}
	r := WithRestart(f, Policy{Mode: RestartAlways}, Backoff{Initial: time.Second})
	r.Sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	code, _ := r.Run(ctx, nil)
	if f.runs != 2 || code != 137 {
		t.Errorf("got %d runs, code %d, want 2 runs, code 137", f.runs, code)
	}
}

func TestRestartCancelledDuringWait(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeRunner{results: []result{{1, nil}}}
	r := WithRestart(f, Policy{Mode: RestartAlways}, Backoff{Initial: time.Second})
	r.Sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	r.Run(ctx, nil)
	if f.runs != 1 {
		t.Errorf("runs: got %d, want 1", f.runs)
	}
}

func TestBackoffResetsAfterLongRun(t *testing.T) {
	// Each run "lasts" 10 s on a fake clock; with Reset at 10 s every
	// restart waits Initial again instead of doubling.
	var clock time.Time
	f := &fakeRunner{results: []result{{1, nil}}}
	r := WithRestart(f, Policy{Mode: RestartOnFailure, MaxRestarts: 3}, Backoff{Initial: time.Second, Max: 30 * time.Second, Reset: 10 * time.Second})
	r.Now = func() time.Time { clock = clock.Add(10 * time.Second); return clock }
	var delays []time.Duration
	r.Sleep = func(ctx context.Context, d time.Duration) error { delays = append(delays, d); return nil }
	r.Run(context.Background(), nil)
	for i, d := range delays {
		if d != time.Second {
			t.Errorf("delay %d: got %v, want 1s", i, d)
		}
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in      string
		want    unix.Signal
		wantErr bool
	}{
		{"", unix.SIGTERM, false},
		{"SIGINT", unix.SIGINT, false},
		{"hup", unix.SIGHUP, false},
		{"9", unix.SIGKILL, false},
		{"SIGRTMIN+2", unix.Signal(36), false},
		{"SIGRTMAX-1", unix.Signal(63), false},
		{"SIGNOPE", 0, true},
		{"99", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseSignal(tc.in, unix.SIGTERM)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseSignal(%q): got %v, %v, want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}
