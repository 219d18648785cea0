package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/keel-os/keel/internal/backoff"
	"github.com/keel-os/keel/internal/bundle"
)

// Mode says when a container that ended is started again.
type Mode int

// The restart modes keel.json can ask for.
const (
	RestartNo Mode = iota
	RestartAlways
	RestartOnFailure
)

// Policy is a parsed keel.json `restart` value.
type Policy struct {
	Mode Mode
	// MaxRestarts bounds on-failure restarts; 0 means no bound.
	MaxRestarts int
}

// ParsePolicy reads a keel.json restart policy with internal/bundle's
// grammar ("no", "always", "on-failure", "on-failure:N" or
// "unless-stopped", treated as always: a service stopped by hand is not
// restarted by any policy). Empty means def.
func ParsePolicy(s string, def Policy) (Policy, error) {
	r, err := bundle.ParseRestart(s)
	if err != nil {
		return Policy{}, err
	}
	switch r.Mode {
	case bundle.RestartNo:
		return Policy{Mode: RestartNo}, nil
	case bundle.RestartAlways, bundle.RestartUnlessStopped:
		return Policy{Mode: RestartAlways}, nil
	case bundle.RestartOnFailure:
		return Policy{Mode: RestartOnFailure, MaxRestarts: r.MaxRestarts}, nil
	}
	return def, nil
}

// String writes the policy back in keel.json's spelling.
func (p Policy) String() string {
	switch p.Mode {
	case RestartAlways:
		return "always"
	case RestartOnFailure:
		if p.MaxRestarts > 0 {
			return fmt.Sprintf("on-failure:%d", p.MaxRestarts)
		}
		return "on-failure"
	}
	return "no"
}

func (p Policy) shouldRestart(code int, err error, restarts int) bool {
	switch p.Mode {
	case RestartAlways:
		return true
	case RestartOnFailure:
		failed := err != nil || code != 0
		return failed && (p.MaxRestarts == 0 || restarts < p.MaxRestarts)
	}
	return false
}

// Backoff is the wait between restarts: Initial, doubling up to Max, over
// from Initial after a run of at least Reset (internal/backoff).
type Backoff = backoff.Policy

// DefaultBackoff is what services and containerd get: 1 s doubling to 30 s,
// reset by a 30 s run (internal/backoff says why).
var DefaultBackoff = backoff.Services

// Restart is a Runner that runs another Runner again, by Policy, after it
// ends on its own. Cancelling ctx ends the loop, including during a wait.
type Restart struct {
	Runner  Runner
	Policy  Policy
	Backoff Backoff
	// Sleep waits d or until ctx is done; nil means a real timer. Tests
	// replace it so they need no clock.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now measures how long a run lasted; nil means time.Now.
	Now func() time.Time
}

// WithRestart wraps r in the restart policy p with backoff b.
func WithRestart(r Runner, p Policy, b Backoff) *Restart {
	return &Restart{Runner: r, Policy: p, Backoff: b}
}

// Run implements Runner. It returns the result of the last run.
func (r *Restart) Run(ctx context.Context, notify Notify) (int, error) {
	now, sleep := r.Now, r.Sleep
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = sleepCtx
	}
	restarts := 0
	inner := func(e Event) {
		e.Restarts = restarts
		notify.send(e)
	}
	b := backoff.New(r.Backoff)
	for {
		start := now()
		code, err := r.Runner.Run(ctx, inner)
		if ctx.Err() != nil || !r.Policy.shouldRestart(code, err, restarts) {
			release(r.Runner)
			return code, err
		}
		delay := b.Next(now().Sub(start))
		restarts++
		notify.send(Event{State: StateBackoff, ExitCode: code, Err: err, Restarts: restarts, Delay: delay})
		if sleep(ctx, delay) != nil {
			release(r.Runner)
			return code, err
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Releaser is a Runner that keeps something between runs (the containerd
// runner keeps the containers of ended tasks for reuse) and can let it go
// once no run follows.
type Releaser interface {
	Release()
}

// release lets r go of what it keeps between runs, if it keeps anything.
func release(r Runner) {
	if rl, ok := r.(Releaser); ok {
		rl.Release()
	}
}
