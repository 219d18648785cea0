package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/keel-os/keel/qemu-test/guest"
	"github.com/keel-os/keel/svcd/api"
)

// varFull tells the filler to fill /var, then checks that only the filler
// noticed: it got ENOSPC and runs on, svcd still answers and logs (its log
// files under /var/log go memory-only, with a line saying so), the other
// services run on and a service can still be restarted. Then it deletes
// the file and checks /var has room again.
func varFull(ctx context.Context, c *api.Client) (string, error) {
	before, err := running(ctx, c, "filler", "hello", "hog")
	if err != nil {
		return "", err
	}
	start := time.Now()
	if err := syscall.Kill(before["filler"].Pid, syscall.SIGUSR1); err != nil {
		return "", fmt.Errorf("telling the filler (pid %d) to start: %w", before["filler"].Pid, err)
	}
	said, err := waitLog(ctx, c, "filler", "filler stopped after")
	if err != nil {
		return "", err
	}
	fillTook := time.Since(start)
	if !strings.Contains(said, "ENOSPC: true") {
		return "", fmt.Errorf("the filler stopped on another error than ENOSPC: %s", said)
	}
	if free, err := varFree(); err != nil || free >= 1<<20 {
		return "", fmt.Errorf("/var still has %d bytes free after the filler stopped (%v)", free, err)
	}
	// svcd answers and tells the truth while /var is full.
	if out, code, err := guest.Svcctl("list"); err != nil || code != 0 {
		return "", fmt.Errorf("svcctl list with /var full: exit %d, %v: %s", code, err, out)
	}
	if _, err := waitLog(ctx, c, "svcd", "log file of filler off, memory only"); err != nil {
		return "", fmt.Errorf("svcd said nothing of filler's log file failing: %w", err)
	}
	// The memory log still has all of it.
	if _, err := waitLog(ctx, c, "filler", "line 64 of 64"); err != nil {
		return "", fmt.Errorf("filler's output with /var full: %w", err)
	}
	after, err := running(ctx, c, "filler", "hello", "hog")
	if err != nil {
		return "", fmt.Errorf("with /var full: %w", err)
	}
	for name, b := range before {
		if a := after[name]; a.Pid != b.Pid || a.Restarts != b.Restarts {
			return "", fmt.Errorf("%s was restarted while /var filled up (pid %d -> %d, restarts %d -> %d)", name, b.Pid, a.Pid, b.Restarts, a.Restarts)
		}
	}
	fullRestart := restartHello(ctx, c)

	if err := os.Remove(fillFile); err != nil {
		return "", fmt.Errorf("deleting the fill file: %w", err)
	}
	if free, err := varFree(); err != nil || free < 64<<20 {
		return "", fmt.Errorf("/var has only %d bytes free after the fill file was deleted (%v)", free, err)
	}
	if fullRestart != nil {
		return "", fmt.Errorf("restarting hello with /var full: %w", fullRestart)
	}
	if err := restartHello(ctx, c); err != nil {
		return "", fmt.Errorf("restarting hello once /var had room again: %w", err)
	}
	return fmt.Sprintf("filler filled /var in %s: %s", fillTook.Round(time.Millisecond), said), nil
}

// running returns the rows of names, failing unless each runs.
func running(ctx context.Context, c *api.Client, names ...string) (map[string]api.Container, error) {
	out := map[string]api.Container{}
	for _, n := range names {
		r, err := c.Container(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("svcctl status %s: %w", n, err)
		}
		if r.State != "running" {
			return nil, fmt.Errorf("%s is %s, want running", n, describe(*r))
		}
		out[n] = *r
	}
	return out, nil
}

// restartHello restarts the bystander service and waits for it to run
// again under a new pid.
func restartHello(ctx context.Context, c *api.Client) error {
	old, err := c.Container(ctx, "hello")
	if err != nil {
		return err
	}
	if err := c.Restart(ctx, "hello"); err != nil {
		return err
	}
	_, err = waitRow(ctx, c, "hello", func(r api.Container) bool { return r.State == "running" && r.Pid != old.Pid })
	return err
}

// waitLog waits until a line of name's log holds text and returns it.
func waitLog(ctx context.Context, c *api.Client, name, text string) (string, error) {
	deadline := time.Now().Add(settleWithin)
	for time.Now().Before(deadline) {
		if l, err := c.Logs(ctx, name); err == nil {
			for _, x := range l.Lines {
				if strings.Contains(x.Text, text) {
					return x.Text, nil
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return "", fmt.Errorf("no line with %q in %s's log within %s", text, name, settleWithin)
}

// varFree is what an unprivileged writer could still put in /var.
func varFree() (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs("/var", &st); err != nil {
		return 0, fmt.Errorf("statfs /var: %w", err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}
