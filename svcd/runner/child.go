package runner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// copyGrace bounds how long output is still read after a child exits: a
// grandchild that kept the pipe open must not hold the runner forever.
const copyGrace = 2 * time.Second

// child is a started command whose stdout and stderr are copied, line by
// line, into writers.
type child struct {
	cmd     *exec.Cmd
	readers []*os.File
	copies  sync.WaitGroup
	done    chan struct{}
	code    int
	err     error
}

// startChild starts cmd with its output going to stdout and stderr (nil
// discards). The pipes are real files handed to the child, so the command
// (and, for runc, the container) writes straight into them and the exit is
// seen as soon as the process ends, whoever else holds the pipe.
// outlive leaves the child running when svcd dies (containerd, which the
// next svcd adopts); otherwise it gets SIGTERM then.
func startChild(cmd *exec.Cmd, stdout, stderr io.Writer, outlive bool) (*child, error) {
	c := &child{cmd: cmd, done: make(chan struct{})}
	var writeEnds []*os.File
	closeAll := func() {
		for _, f := range append(writeEnds, c.readers...) {
			f.Close()
		}
	}
	pipeTo := func(dst io.Writer) (*os.File, error) {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("making output pipe: %w", err)
		}
		c.readers = append(c.readers, r)
		writeEnds = append(writeEnds, w)
		c.copies.Add(1)
		go func() {
			defer c.copies.Done()
			_, _ = io.Copy(dst, r)
			if f, ok := dst.(interface{ Flush() error }); ok {
				_ = f.Flush()
			}
		}()
		return w, nil
	}
	if stdout != nil {
		w, err := pipeTo(stdout)
		if err != nil {
			return nil, err
		}
		cmd.Stdout = w
	}
	if stderr != nil {
		w, err := pipeTo(stderr)
		if err != nil {
			closeAll()
			return nil, err
		}
		cmd.Stderr = w
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Own process group: a ctrl-C on a terminal reaches svcd alone, which
	// then stops children in order. Parent-death signal: if svcd dies, PID 1
	// restarts it, and a half-done onboot job must not linger.
	cmd.SysProcAttr.Setpgid = true
	if !outlive {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
	}
	if err := cmd.Start(); err != nil {
		closeAll()
		return nil, err
	}
	for _, w := range writeEnds {
		w.Close()
	}
	go func() {
		c.code, c.err = exitCode(cmd.Wait())
		t := time.AfterFunc(copyGrace, func() {
			for _, r := range c.readers {
				r.Close()
			}
		})
		c.copies.Wait()
		t.Stop()
		for _, r := range c.readers {
			r.Close()
		}
		close(c.done)
	}()
	return c, nil
}

// pid is the child's process id.
func (c *child) pid() int { return c.cmd.Process.Pid }

// signal sends sig to the child, ignoring a child that is already gone.
func (c *child) signal(sig os.Signal) {
	_ = c.cmd.Process.Signal(sig)
}

// exitCode turns cmd.Wait's error into an exit code, 128+n for signal n.
func exitCode(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return -1, err
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return ee.ExitCode(), nil
}
