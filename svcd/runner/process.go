package runner

import (
	"context"
	"io"
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
	// StopSignal is sent when ctx is cancelled; 0 means SIGTERM.
	StopSignal syscall.Signal
	// StopTimeout is how long to wait after StopSignal before SIGKILL;
	// 0 means 10 s.
	StopTimeout time.Duration
}

// Run implements Runner.
func (p *Process) Run(ctx context.Context, notify Notify) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = p.Env
	c, err := startChild(cmd, p.Stdout, p.Stderr)
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
	sig, timeout := p.StopSignal, p.StopTimeout
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	c.signal(sig)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		c.signal(syscall.SIGKILL)
		<-c.done
	}
	return c.code, c.err
}
