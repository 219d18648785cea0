package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Runc runs an OCI bundle to completion with the runc binary, as onboot and
// onshutdown containers are run: `runc run`, so the container is runc's
// child and its exit code is runc's.
type Runc struct {
	// Runc is the runc binary.
	Runc string
	// Root is runc's state directory (--root); empty means runc's default.
	Root string
	// ID is the container id runc knows it by.
	ID     string
	Bundle string
	Stdout io.Writer
	Stderr io.Writer
	// Timeout bounds the run; after it the container is killed. 0 means none.
	Timeout time.Duration
	// KillWait is how long to wait for runc after killing the container
	// before killing runc itself; 0 means 5 s.
	KillWait time.Duration
	// Prepare, when set, runs before runc (LinuxKit's runtime section:
	// mounts, directories, cgroups).
	Prepare func() error
	// CreatedHook, when set, is a command runc runs once the container's
	// namespaces exist and before its process starts (an OCI createRuntime
	// hook, which gets the container's state, pid included, on stdin):
	// the runtime section's interfaces and namespace binds. `runc run`
	// leaves no moment between create and start to do it from here, and
	// `runc create` would leave the container a child of no one svcd can
	// wait for. Its Args start with the name the program runs as.
	CreatedHook *specs.Hook
}

func (r *Runc) runc(args ...string) *exec.Cmd {
	if r.Root != "" {
		args = append([]string{"--root", r.Root}, args...)
	}
	return exec.Command(r.Runc, args...)
}

// defaultRuncRoot is runc's state directory when --root is not given and
// it runs as root.
const defaultRuncRoot = "/run/runc"

// leftover reports whether runc may still know a container of r's id: its
// state directory exists, or cannot be checked.
func (r *Runc) leftover() bool {
	root := r.Root
	if root == "" {
		root = defaultRuncRoot
	}
	_, err := os.Lstat(filepath.Join(root, r.ID))
	return !errors.Is(err, fs.ErrNotExist)
}

// cleanup removes whatever runc still knows of the container; a container
// that is already gone is not an error worth reporting.
func (r *Runc) cleanup() error {
	out, err := r.runc("delete", "--force", r.ID).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "does not exist") {
		return fmt.Errorf("runc delete %s: %v: %s", r.ID, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Run implements Runner. Cancelling ctx kills the container at once: onboot
// and onshutdown jobs have no stop signal of their own.
func (r *Runc) Run(ctx context.Context, notify Notify) (int, error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	// A container of the same id left by an svcd that died would make
	// `runc run` fail with "container with id exists". Only then is
	// `runc delete` worth its exec: the first runc of a boot reads the
	// whole binary (about 0.6 s under TCG).
	if r.leftover() {
		_ = r.cleanup()
	}
	tmp, err := os.MkdirTemp("", "keel-runc-")
	if err != nil {
		return -1, fmt.Errorf("making pid file directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	pidFile := filepath.Join(tmp, "pid")
	bundleDir := r.Bundle
	if r.Prepare != nil {
		if err := r.Prepare(); err != nil {
			return -1, fmt.Errorf("preparing %s: %w", r.ID, err)
		}
	}
	if r.CreatedHook != nil {
		if bundleDir, err = hookedBundle(r.Bundle, tmp, *r.CreatedHook); err != nil {
			return -1, err
		}
	}
	c, err := startChild(r.runc("run", "--bundle", bundleDir, "--pid-file", pidFile, r.ID), r.Stdout, r.Stderr, false)
	if err != nil {
		return -1, fmt.Errorf("starting %s: %w", r.Runc, err)
	}
	// Run returns only after the pid reporter has, so a late "running"
	// cannot land after the caller recorded the exit.
	pidDone := make(chan struct{})
	go func() {
		defer close(pidDone)
		reportPid(c.done, pidFile, notify)
	}()
	defer func() { <-pidDone }()

	var timeout <-chan time.Time
	if r.Timeout > 0 {
		t := time.NewTimer(r.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var runErr error
	select {
	case <-c.done:
		if c.err != nil {
			return c.code, fmt.Errorf("running runc: %w", c.err)
		}
		return c.code, nil
	case <-ctx.Done():
	case <-timeout:
		runErr = fmt.Errorf("%w after %s, killed", ErrTimeout, r.Timeout)
	}
	notify.send(Event{State: StateStopping})
	_ = r.runc("kill", "--all", r.ID, "KILL").Run()
	wait := r.KillWait
	if wait <= 0 {
		wait = 5 * time.Second
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		c.signal(os.Kill)
		<-c.done
	}
	if err := r.cleanup(); err != nil && runErr == nil {
		runErr = err
	}
	return c.code, runErr
}

// reportPid tells the container's pid once runc has written it. runc
// writes the file (a rename into its directory, which holds nothing else)
// right after creating the container; an inotify watch on the directory
// says when, so nothing polls while runc starts (under emulation that
// start takes a second, and polling it cost svcd tens of milliseconds of
// CPU the boot was waiting for). Without inotify it polls every 10 ms.
// It gives up after 5 s, reporting running without a pid; the exit
// itself is never polled for.
func reportPid(done <-chan struct{}, pidFile string, notify Notify) {
	giveUp := time.Now().Add(5 * time.Second)
	changed, stop := watchDir(filepath.Dir(pidFile), giveUp)
	defer stop()
	var tick <-chan time.Time
	if changed == nil {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		tick = t.C
	}
	expired := time.After(time.Until(giveUp))
	for {
		if pid, ok := readPid(pidFile); ok {
			notify.send(Event{State: StateRunning, Pid: pid})
			return
		}
		select {
		case <-done:
			return
		case <-expired:
			notify.send(Event{State: StateRunning})
			return
		case _, open := <-changed:
			if !open { // the watch failed: poll for what is left
				changed = nil
				t := time.NewTicker(10 * time.Millisecond)
				defer t.Stop()
				tick = t.C
			}
		case <-tick:
		}
	}
}

// readPid reads a pid file runc wrote.
func readPid(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}

// watchDir returns a channel that receives whenever a file in dir is
// written and closed or moved in, and is closed if the watch fails, and
// a func that ends the watch. The channel is nil when inotify cannot
// watch dir. The watch ends by itself at until.
func watchDir(dir string, until time.Time) (<-chan struct{}, func()) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, func() {}
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO); err != nil {
		unix.Close(fd)
		return nil, func() {}
	}
	// Non-blocking, so the runtime poller waits for it and Close or the
	// deadline ends a read in progress.
	f := os.NewFile(uintptr(fd), "inotify")
	_ = f.SetReadDeadline(until)
	ch := make(chan struct{}, 1)
	go func() {
		defer close(ch)
		buf := make([]byte, 4096)
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			select {
			case ch <- struct{}{}:
			default: // one pending wake-up is enough: the file is read anew
			}
		}
	}()
	return ch, func() { f.Close() }
}

// hookedBundle writes, in dir, a bundle whose config.json is bundle's with
// its root made absolute and hook added as a createRuntime hook, and
// returns it: the bundle itself is read-only in the image.
func hookedBundle(bundle, dir string, hook specs.Hook) (string, error) {
	spec, err := LoadSpec(bundle)
	if err != nil {
		return "", err
	}
	if spec.Hooks == nil {
		spec.Hooks = &specs.Hooks{}
	}
	spec.Hooks.CreateRuntime = append(spec.Hooks.CreateRuntime, hook)
	b, err := json.Marshal(spec)
	if err != nil {
		return "", fmt.Errorf("writing the bundle of %s: %w", bundle, err)
	}
	out := filepath.Join(dir, "bundle")
	if err := os.Mkdir(out, 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(out, "config.json"), b, 0o600); err != nil {
		return "", fmt.Errorf("writing the bundle of %s: %w", bundle, err)
	}
	return out, nil
}
