package runner

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Adopted watches a process svcd did not start (containerd left running by
// an svcd that died) through a pidfd, so its exit is an event, not a poll.
type Adopted struct {
	Pid int
	// StopSignal is sent when ctx is cancelled; 0 means SIGTERM.
	StopSignal syscall.Signal
	// StopTimeout is how long to wait after StopSignal before SIGKILL;
	// 0 means DefaultStopTimeout.
	StopTimeout time.Duration
}

// Run implements Runner. The exit code of a process that is not svcd's
// child cannot be known; it is reported as -1 with an error.
func (a *Adopted) Run(ctx context.Context, notify Notify) (int, error) {
	fd, err := unix.PidfdOpen(a.Pid, 0)
	if err != nil {
		return -1, fmt.Errorf("watching adopted pid %d: %w", a.Pid, err)
	}
	defer unix.Close(fd)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		waitPidfd(fd)
	}()
	notify.send(Event{State: StateRunning, Pid: a.Pid})
	select {
	case <-exited:
		return -1, errors.New("adopted process exited (exit code unknown)")
	case <-ctx.Done():
	}
	notify.send(Event{State: StateStopping, Pid: a.Pid})
	// The pidfd names this process even if its pid is reused; a process
	// already gone needs no signal, its exit is on exited.
	res, _ := stop(context.Background(), stopper{
		Signal:  a.StopSignal,
		Timeout: a.StopTimeout,
		Send: func(sig syscall.Signal) error {
			_ = unix.PidfdSendSignal(fd, sig, nil, 0)
			return nil
		},
	}, exited)
	return 128 + int(res.Signal), nil
}

// waitPidfd blocks until the process behind fd has exited.
func waitPidfd(fd int) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n > 0 {
			return
		}
	}
}

// Then runs First once, then Next on every later run: an adopted process
// first, a freshly started one after it dies.
type Then struct {
	First, Next Runner
	used        bool
}

// Run implements Runner.
func (t *Then) Run(ctx context.Context, notify Notify) (int, error) {
	if !t.used && t.First != nil {
		t.used = true
		return t.First.Run(ctx, notify)
	}
	return t.Next.Run(ctx, notify)
}
