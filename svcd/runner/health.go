package runner

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Prober checks once whether the instance with main process pid is healthy.
type Prober interface {
	Probe(ctx context.Context, pid int) error
}

// ErrUnhealthy is wrapped by the error HealthCheck returns after it stopped a
// run whose checks kept failing, so the restart policy treats it as a
// failure.
var ErrUnhealthy = errors.New("unhealthy")

// Defaults of the zero values of HealthCheck, Docker's.
const (
	DefaultHealthInterval = 30 * time.Second
	DefaultHealthTimeout  = 30 * time.Second
	DefaultHealthRetries  = 3
	// readyInterval is the pace of probes until the first one passes:
	// dependents wait for that first pass, so it should not take a whole
	// Interval to notice.
	readyInterval = 500 * time.Millisecond
)

// HealthCheck is a Runner that probes another Runner's instance while it runs,
// reports the result as Event.Health, and stops the instance once Retries
// probes in a row failed after StartPeriod.
type HealthCheck struct {
	Runner      Runner
	Probe       Prober
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
	Retries     int
	// Sleep waits d or until ctx is done; nil means a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock for StartPeriod; nil means time.Now.
	Now func() time.Time
}

// Run implements Runner.
func (h *HealthCheck) Run(ctx context.Context, notify Notify) (int, error) {
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		once      sync.Once
		unhealthy = make(chan struct{})
		wg        sync.WaitGroup
	)
	inner := func(e Event) {
		notify.send(e)
		if e.State != StateRunning || e.Pid <= 0 {
			return
		}
		once.Do(func() {
			notify.send(Event{Health: HealthStarting})
			wg.Add(1)
			go func() {
				defer wg.Done()
				if h.watch(rctx, e.Pid, notify) {
					close(unhealthy)
					cancel()
				}
			}()
		})
	}
	code, err := h.Runner.Run(rctx, inner)
	// The prober must be done before Run returns: a late health event
	// would land after the caller recorded the end.
	cancel()
	wg.Wait()
	select {
	case <-unhealthy:
		if ctx.Err() == nil {
			return code, fmt.Errorf("%w: %d health checks in a row failed, stopped", ErrUnhealthy, h.retries())
		}
	default:
	}
	return code, err
}

// Release passes the restart decorator's release on to the runner inside.
func (h *HealthCheck) Release() { release(h.Runner) }

func (h *HealthCheck) retries() int {
	if h.Retries <= 0 {
		return DefaultHealthRetries
	}
	return h.Retries
}

// watch probes pid until ctx is done (false) or it is unhealthy (true).
func (h *HealthCheck) watch(ctx context.Context, pid int, notify Notify) bool {
	sleep, now := h.Sleep, h.Now
	if sleep == nil {
		sleep = sleepCtx
	}
	if now == nil {
		now = time.Now
	}
	interval, timeout := h.Interval, h.Timeout
	if interval <= 0 {
		interval = DefaultHealthInterval
	}
	if timeout <= 0 {
		timeout = DefaultHealthTimeout
	}
	graceEnd := now().Add(h.StartPeriod)
	state, fails := HealthStarting, 0
	for {
		pctx, pcancel := context.WithTimeout(ctx, timeout)
		err := h.Probe.Probe(pctx, pid)
		pcancel()
		if ctx.Err() != nil {
			return false
		}
		next := state
		switch {
		case err == nil:
			fails, next = 0, HealthHealthy
		case now().Before(graceEnd):
			// Failures while the service starts do not count.
		default:
			fails++
			if fails >= h.retries() {
				next = HealthUnhealthy
			}
		}
		if next != state {
			state = next
			notify.send(Event{Health: state})
		}
		if state == HealthUnhealthy {
			return true
		}
		wait := interval
		if state == HealthStarting && readyInterval < wait {
			wait = readyInterval
		}
		if sleep(ctx, wait) != nil {
			return false
		}
	}
}
