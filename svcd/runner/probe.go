package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// ExecProbe runs a command inside the container; exit 0 is healthy.
type ExecProbe struct {
	// Exec runs args in the running instance and returns its exit code.
	Exec func(ctx context.Context, args []string) (int, error)
	Args []string
}

// Probe implements Prober.
func (p ExecProbe) Probe(ctx context.Context, _ int) error {
	code, err := p.Exec(ctx, p.Args)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("health command %q exited %d", p.Args, code)
	}
	return nil
}

// FileProbe is healthy once Path exists inside the container, seen through
// /proc/PID/root so that the image needs no tools for it.
type FileProbe struct {
	Path string
	// ProcRoot is /proc; tests may point it elsewhere.
	ProcRoot string
}

// Probe implements Prober.
func (p FileProbe) Probe(_ context.Context, pid int) error {
	proc := p.ProcRoot
	if proc == "" {
		proc = "/proc"
	}
	_, err := os.Stat(filepath.Join(proc, fmt.Sprint(pid), "root", p.Path))
	return err
}

// TCPProbe is healthy when Addr accepts a connection made from inside the
// container's network namespace, so "127.0.0.1:80" means the service's own
// loopback whether or not it shares the host's network.
type TCPProbe struct {
	Addr string
}

// Probe implements Prober.
func (p TCPProbe) Probe(ctx context.Context, pid int) error {
	type result struct{ err error }
	ch := make(chan result, 1)
	go func() {
		// The thread enters the container's namespace and is never
		// unlocked, so Go discards it instead of reusing a thread in the
		// wrong namespace.
		runtime.LockOSThread()
		ch <- result{dialIn(ctx, pid, p.Addr)}
	}()
	select {
	case r := <-ch:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func dialIn(ctx context.Context, pid int, addr string) error {
	ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		return fmt.Errorf("opening network namespace: %w", err)
	}
	defer ns.Close()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("entering network namespace of %d: %w", pid, err)
	}
	// The socket is created on this thread, so in the namespace; the
	// connect that follows stays bound to it wherever it completes.
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) {
			return fmt.Errorf("connecting to %s: %w", addr, err)
		}
		return err
	}
	return c.Close()
}
