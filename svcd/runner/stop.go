package runner

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// DefaultStopTimeout is the wait between the stop signal and SIGKILL when
// a runner's StopTimeout is 0.
const DefaultStopTimeout = 10 * time.Second

// stopper is how every runner stops what it runs once its context is
// cancelled: the stop signal, a wait of at most the timeout for the exit,
// then SIGKILL and a wait for the exit again.
//
// Only the process itself is signalled, not its process group as go-cmd's
// Stop does. go-cmd signals the group so that a grandchild holding the
// output pipe cannot hang the wait for the output; here the wait is for
// the process's exit, startChild bounds the output copy on its own
// (copyGrace), and a process with children to stop in order (containerd
// and its shims, a container's init) is left to stop them itself.
type stopper struct {
	// Signal is sent first; 0 means SIGTERM.
	Signal syscall.Signal
	// Timeout is the wait after Signal before SIGKILL; 0 means
	// DefaultStopTimeout.
	Timeout time.Duration
	// Send delivers the stop signal. An error ends the stop at once and is
	// returned: what could not be told to stop is not waited for.
	Send func(syscall.Signal) error
	// Kill delivers SIGKILL; nil means Send(SIGKILL). An error is
	// returned the same way.
	Kill func() error
}

// errNoExit is wrapped by stop's error when the process did not exit after
// SIGKILL before its context was done.
var errNoExit = errors.New("did not exit after SIGKILL")

// stopResult is what a stop ended with.
type stopResult[T any] struct {
	// Exit is what the exit channel delivered (the zero T when it was
	// closed).
	Exit T
	// Signal is the last signal sent: the stop signal, or SIGKILL.
	Signal syscall.Signal
	// Killed says SIGKILL was needed.
	Killed bool
}

func (s stopper) signal() syscall.Signal {
	if s.Signal == 0 {
		return syscall.SIGTERM
	}
	return s.Signal
}

func (s stopper) timeout() time.Duration {
	if s.Timeout <= 0 {
		return DefaultStopTimeout
	}
	return s.Timeout
}

// stop stops a process whose exit arrives on exited. The wait after
// SIGKILL lasts until ctx is done, and then returns errNoExit with ctx's
// error; a background ctx waits for as long as the kernel takes.
func stop[T any](ctx context.Context, s stopper, exited <-chan T) (stopResult[T], error) {
	sig := s.signal()
	res := stopResult[T]{Signal: sig}
	if err := s.Send(sig); err != nil {
		return res, err
	}
	t := time.NewTimer(s.timeout())
	defer t.Stop()
	select {
	case res.Exit = <-exited:
		return res, nil
	case <-t.C:
	}
	res.Signal, res.Killed = syscall.SIGKILL, true
	kill := s.Kill
	if kill == nil {
		kill = func() error { return s.Send(syscall.SIGKILL) }
	}
	if err := kill(); err != nil {
		return res, err
	}
	select {
	case res.Exit = <-exited:
		return res, nil
	case <-ctx.Done():
		return res, fmt.Errorf("%w: %w", errNoExit, ctx.Err())
	}
}
