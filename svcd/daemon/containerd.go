package daemon

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
	"github.com/keel-os/keel/svcd/runner"
	"github.com/keel-os/keel/svcd/supervisor"
	"golang.org/x/sys/unix"
)

// ContainerdRunning implements supervisor.Runners.
func (r *runners) ContainerdRunning() bool { return containerdAnswers(r.ContainerdSocket) }

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
func (r *runners) containerdOutput() (*os.File, error) {
	dir := r.StateDir
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
	w := r.Logs.Writer(supervisor.ContainerdName, "output")
	go func() { _, _ = io.Copy(w, f) }()
	return f, nil
}

// Containerd implements supervisor.Runners: containerd as svcd's child,
// left running when svcd dies so that the next svcd adopts it.
func (r *runners) Containerd(adopt bool) (runner.Runner, error) {
	env := os.Environ()
	if os.Getenv("PATH") == "" {
		// PID 1 may start svcd with no PATH; the shims and runc are looked
		// up on it.
		env = append(env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	}
	out, err := r.containerdOutput()
	if err != nil {
		return nil, err
	}
	// Held here for as long as svcd runs: a lost *os.File closes its fd.
	r.ctrdOut = out
	p := &runner.Process{
		Path:        r.ContainerdPath,
		Args:        []string{"--config", r.ContainerdConfig, "--address", r.ContainerdSocket},
		Env:         env,
		Output:      out,
		Outlive:     true,
		StopTimeout: containerdStopWait,
	}
	if !adopt {
		return p, nil
	}
	pid, err := peerPid(r.ContainerdSocket)
	if err != nil {
		return nil, fmt.Errorf("finding the running containerd's pid: %w", err)
	}
	r.logf("adopting containerd pid %d", pid)
	return &runner.Then{First: &runner.Adopted{Pid: pid, StopTimeout: containerdStopWait}, Next: p}, nil
}

// Connect implements supervisor.Runners.
func (r *runners) Connect(ctx context.Context) (supervisor.ServiceRunners, error) {
	c, err := waitContainerd(ctx, r.ContainerdSocket, r.ContainerdTimeout)
	if err != nil {
		return nil, err
	}
	return &services{runners: r, client: c}, nil
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
