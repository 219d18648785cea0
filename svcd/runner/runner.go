// Package runner runs one container or process at a time behind a single
// small interface, so the supervisor does not care whether runc, containerd
// or a plain child process does the work, and so behaviours such as restart
// and health checks wrap any runner as decorators.
package runner

import (
	"context"
	"errors"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keel-os/keel/internal/bundle"
)

// Runner runs something once.
//
// Run starts it and blocks until it has ended and been cleaned up. Cancelling
// ctx stops it the runner's way (stop signal, then SIGKILL after a timeout)
// and Run returns once it is gone. The int is the exit code (128+n when
// killed by signal n); a non-nil error means it could not be started or
// watched, or was ended by the runner (a timeout) or the kernel's OOM killer
// (ErrOOMKilled). Run may be called again after it returns.
type Runner interface {
	Run(ctx context.Context, notify Notify) (int, error)
}

// State is where a runner is in its life.
type State string

// The states runners report. Exited, Failed and Stopped are final states
// the supervisor sets from Run's result; runners report the others.
const (
	StatePending  State = "pending"
	StateRunning  State = "running"
	StateStopping State = "stopping"
	// StateBackoff is the wait between a run that ended and the next one;
	// a crash-looping service spends most of its time here.
	StateBackoff State = "backoff"
	StateExited  State = "exited"
	StateFailed  State = "failed"
	StateStopped State = "stopped"
)

// Event reports a change of state while Run is going on.
type Event struct {
	State State
	// Pid is set with StateRunning.
	Pid int
	// ExitCode and Err describe the run that ended, with StateBackoff.
	ExitCode int
	Err      error
	// Restarts counts restarts so far (set by the restart decorator).
	Restarts int
	// Delay is the wait before the next start, with StateBackoff.
	Delay time.Duration
	// Health is set by the health decorator. An event with Health and no
	// State changes only the health.
	Health Health
}

// Health is what the health decorator last concluded.
type Health string

// Health values; the empty Health means the runner has no check.
const (
	HealthStarting  Health = "starting"
	HealthHealthy   Health = "healthy"
	HealthUnhealthy Health = "unhealthy"
)

// Notify receives events. It must not block for long.
type Notify func(Event)

func (n Notify) send(e Event) {
	if n != nil {
		n(e)
	}
}

// ErrTimeout is wrapped by the error a runner returns when it killed what it
// ran because it exceeded its time limit.
var ErrTimeout = errors.New("timed out")

// ParseSignal reads a keel.json stop signal in any spelling
// internal/bundle's ParseSignal accepts ("SIGTERM", "TERM", "15",
// "SIGRTMIN+2"); empty means def.
func ParseSignal(s string, def unix.Signal) (unix.Signal, error) {
	if strings.TrimSpace(s) == "" {
		return def, nil
	}
	sig, err := bundle.ParseSignal(s)
	if err != nil {
		return 0, err
	}
	return unix.Signal(sig), nil
}
