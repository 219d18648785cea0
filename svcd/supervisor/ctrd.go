package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/keel-os/keel/svcd/api"
	"github.com/keel-os/keel/svcd/runner"
	"golang.org/x/sys/unix"
)

// containerdAnswers says whether a containerd already serves the socket.
func containerdAnswers(socket string) bool {
	conn, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	c, err := containerd.New(socket)
	if err != nil {
		return false
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = c.Version(ctx)
	return err == nil
}

// peerPid is the pid of the process serving a unix socket.
func peerPid(socket string) (int, error) {
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	raw, err := conn.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if cerr != nil {
		return 0, cerr
	}
	return int(cred.Pid), nil
}

// containerdOutput returns the FIFO containerd writes its output to,
// opened read-write: containerd gets it as stdout and stderr and svcd reads
// it. Because a read-write FIFO always has a reader, containerd never gets
// EPIPE when svcd dies, and the next svcd opens the same FIFO and reads on.
func (s *Supervisor) containerdOutput() (*os.File, error) {
	dir := s.cfg.StateDir
	if dir == "" {
		dir = "/run/svcd"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("making %s: %w", dir, err)
	}
	path := filepath.Join(dir, "containerd.out")
	if err := unix.Mkfifo(path, 0o600); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("making FIFO %s: %w", path, err)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening FIFO %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	w := s.cfg.Logs.Writer(ContainerdName, "output")
	go func() { _, _ = io.Copy(w, f) }()
	return f, nil
}

// startContainerd starts containerd as a restarted child (or adopts the one
// already running) and waits until its socket answers.
func (s *Supervisor) startContainerd(ctx context.Context, adopting bool) (*containerd.Client, error) {
	env := os.Environ()
	if os.Getenv("PATH") == "" {
		// PID 1 may start svcd with no PATH; the shims and runc are looked
		// up on it.
		env = append(env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	}
	out, err := s.containerdOutput()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.ctrdOut = out
	s.mu.Unlock()
	p := &runner.Process{
		Path:        s.cfg.Containerd,
		Args:        []string{"--config", s.cfg.ContainerdConfig, "--address", s.cfg.ContainerdSocket},
		Env:         env,
		Output:      out,
		Outlive:     true,
		StopTimeout: DefaultContainerdStopWait,
	}
	var r runner.Runner = p
	if adopting {
		pid, err := peerPid(s.cfg.ContainerdSocket)
		if err != nil {
			return nil, fmt.Errorf("finding the running containerd's pid: %w", err)
		}
		s.logf("adopting containerd pid %d", pid)
		r = &runner.Then{First: &runner.Adopted{Pid: pid, StopTimeout: DefaultContainerdStopWait}, Next: p}
	}
	begin := time.Now()
	rn := s.start(ctx, ContainerdName, api.PhaseSystem,
		runner.WithRestart(r, runner.Policy{Mode: runner.RestartAlways}, s.cfg.Backoff))
	s.mu.Lock()
	s.containerd = rn
	s.mu.Unlock()

	client, err := waitContainerd(ctx, s.cfg.ContainerdSocket, s.cfg.ContainerdTimeout)
	if err != nil {
		return nil, err
	}
	s.logf("containerd ready in %.2fs", time.Since(begin).Seconds())
	s.table.Mark(ContainerdName, api.PhaseSystem, "ready")
	s.mu.Lock()
	s.client = client
	s.mu.Unlock()
	return client, nil
}

// waitContainerd connects to containerd once its socket answers a Version
// call, trying every 50 ms. Dialling the socket first keeps grpc's own
// reconnect backoff (seconds) out of the boot time.
func waitContainerd(ctx context.Context, socket string, timeout time.Duration) (*containerd.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if conn, err := net.Dial("unix", socket); err != nil {
			last = err
		} else {
			conn.Close()
			c, err := containerd.New(socket)
			if err == nil {
				vctx, vcancel := context.WithTimeout(ctx, 2*time.Second)
				_, err = c.Version(vctx)
				vcancel()
				if err == nil {
					return c, nil
				}
				c.Close()
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no answer on %s after %s: %v", socket, timeout, last)
		case <-tick.C:
		}
	}
}
