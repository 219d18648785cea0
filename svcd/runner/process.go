package runner

import (
	"context"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Process runs a plain program as svcd's child: containerd itself.
type Process struct {
	Path string
	Args []string
	// Env is the child's environment; nil means svcd's own.
	Env            []string
	Stdout, Stderr io.Writer
	// Output, when set, is given to the child as both stdout and stderr
	// instead of Stdout and Stderr. A FIFO opened read-write never
	// breaks, so the child survives svcd and the next svcd reads on.
	Output *os.File
	// Outlive leaves the child running when svcd dies.
	Outlive bool
	// StopSignal is sent when ctx is cancelled; 0 means SIGTERM.
	StopSignal syscall.Signal
	// StopTimeout is how long to wait after StopSignal before SIGKILL;
	// 0 means DefaultStopTimeout.
	StopTimeout time.Duration
}

// Run implements Runner.
func (p *Process) Run(ctx context.Context, notify Notify) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = p.Env
	stdout, stderr := p.Stdout, p.Stderr
	if p.Output != nil {
		cmd.Stdout, cmd.Stderr = p.Output, p.Output
		stdout, stderr = nil, nil
	}
	c, err := startChild(cmd, stdout, stderr, p.Outlive)
	if err != nil {
		return -1, err
	}
	notify.send(Event{State: StateRunning, Pid: c.pid()})
	select {
	case <-c.done:
		return c.code, c.err
	case <-ctx.Done():
	}
	notify.send(Event{State: StateStopping, Pid: c.pid()})
	// A child that is already gone needs no signal: its exit is on c.done.
	_, _ = stop(context.Background(), stopper{
		Signal:  p.StopSignal,
		Timeout: p.StopTimeout,
		Send:    func(sig syscall.Signal) error { c.signal(sig); return nil },
	}, c.done)
	return c.code, c.err
}
