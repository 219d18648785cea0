package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultNamespace is LinuxKit's containerd namespace for services, so
// `ctr -n services.linuxkit ...` habits keep working.
const DefaultNamespace = "services.linuxkit"

// runcRuntime is the shim every service runs under.
const runcRuntime = "io.containerd.runc.v2"

// controlTimeout bounds each call to containerd made while cleaning up, so
// a hung containerd cannot hold a shutdown forever.
const controlTimeout = 30 * time.Second

// Containerd runs a service bundle as a containerd container and task. The
// spec is the bundle's config.json with root.path made absolute; there is no
// image and no snapshot, the task runs straight from the bundle's rootfs.
type Containerd struct {
	Client *containerd.Client
	// Namespace is the containerd namespace; empty means DefaultNamespace.
	Namespace string
	ID        string
	Bundle    string
	// Runc is the runc binary the shim should use; empty means the shim's
	// default ("runc" on PATH).
	Runc string
	// FIFODir is where the output FIFOs are made; empty means containerd's
	// default (/run/containerd/fifo).
	FIFODir        string
	Stdout, Stderr io.Writer
	// StopSignal is sent when ctx is cancelled; 0 means SIGTERM.
	StopSignal syscall.Signal
	// StopTimeout is how long to wait after StopSignal before SIGKILL;
	// 0 means 10 s.
	StopTimeout time.Duration
	// Hooks, when set, run around creation (the runtime section).
	Hooks Hooks

	mu sync.Mutex
	// io is the output copier of the task this runner last created or
	// attached to; it outlives a containerd restart.
	io cio.IO
}

var execSeq atomic.Uint64

// LoadSpec reads bundle/config.json and makes its root path absolute, since
// containerd runs the task from its own state directory, not the bundle.
func LoadSpec(bundle string) (*specs.Spec, error) {
	path := filepath.Join(bundle, "config.json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading OCI spec: %w", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", path, err)
	}
	if s.Root == nil || s.Root.Path == "" {
		return nil, fmt.Errorf("%s has no root.path: the bundle needs a root filesystem", path)
	}
	if s.Process == nil {
		return nil, fmt.Errorf("%s has no process to run", path)
	}
	if !filepath.IsAbs(s.Root.Path) {
		abs, err := filepath.Abs(filepath.Join(bundle, s.Root.Path))
		if err != nil {
			return nil, fmt.Errorf("making root path absolute: %w", err)
		}
		s.Root.Path = abs
	}
	return &s, nil
}

func (r *Containerd) namespace() string {
	if r.Namespace == "" {
		return DefaultNamespace
	}
	return r.Namespace
}

// control returns a context for a call that must happen even when the run's
// context is cancelled (stopping, deleting), bounded in time.
func (r *Containerd) control() (context.Context, context.CancelFunc) {
	ctx := namespaces.WithNamespace(context.Background(), r.namespace())
	return context.WithTimeout(ctx, controlTimeout)
}

// removeStale deletes a container (and its task) of our id left behind by a
// previous run or a previous svcd.
func (r *Containerd) removeStale() error {
	ctx, cancel := r.control()
	defer cancel()
	c, err := r.Client.LoadContainer(ctx, r.ID)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("looking for a stale container %s: %w", r.ID, err)
	}
	if t, err := c.Task(ctx, nil); err == nil {
		if _, err := t.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("deleting stale task %s: %w", r.ID, err)
		}
	}
	if err := c.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("deleting stale container %s: %w", r.ID, err)
	}
	return nil
}

// Hooks run host-side work around a container's creation: LinuxKit's
// runtime section. Nil Hooks do nothing.
type Hooks interface {
	// Create runs before the container is created.
	Create() error
	// Created runs once the task exists (its namespaces too) and before
	// its process starts.
	Created(pid int) error
}

// Run implements Runner. A task of the same id that is already running
// (svcd or containerd was restarted under it) is adopted, not recreated.
func (r *Containerd) Run(ctx context.Context, notify Notify) (code int, err error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	spec, err := LoadSpec(r.Bundle)
	if err != nil {
		return -1, err
	}
	// Creation is not tied to ctx: a cancel half-way through would leave
	// a container behind. Cancellation is looked at once the task runs.
	cctx := namespaces.WithNamespace(context.Background(), r.namespace())
	c, task, exitC, err := r.adopt(cctx)
	if err != nil {
		return -1, err
	}
	if task == nil {
		if c, task, exitC, err = r.create(ctx, cctx, spec); err != nil || task == nil {
			return -1, err
		}
	}
	// keep is set when containerd went away: the task lives on in its
	// shim and the next run adopts it, so it must not be deleted.
	keep := false
	defer func() {
		if keep {
			return
		}
		r.closeIO()
		dctx, cancel := r.control()
		defer cancel()
		if _, derr := task.Delete(dctx, containerd.WithProcessKill); derr != nil && !errdefs.IsNotFound(derr) && err == nil {
			err = fmt.Errorf("deleting task %s: %w", r.ID, derr)
		}
		if derr := c.Delete(dctx); derr != nil && !errdefs.IsNotFound(derr) && err == nil {
			err = fmt.Errorf("deleting container %s: %w", r.ID, derr)
		}
	}()
	notify.send(Event{State: StateRunning, Pid: int(task.Pid())})
	code, err, keep = r.watch(ctx, task, exitC, notify)
	return code, err
}

// create makes the container and its task from the bundle and starts it.
// It returns a nil task when ctx was cancelled before the start.
func (r *Containerd) create(ctx, cctx context.Context, spec *specs.Spec) (containerd.Container, containerd.Task, <-chan containerd.ExitStatus, error) {
	if err := r.removeStale(); err != nil {
		return nil, nil, nil, err
	}
	if r.Hooks != nil {
		if err := r.Hooks.Create(); err != nil {
			return nil, nil, nil, fmt.Errorf("preparing %s: %w", r.ID, err)
		}
	}
	opts := []containerd.NewContainerOpts{containerd.WithSpec(spec)}
	if r.Runc != "" {
		opts = append(opts, containerd.WithRuntime(runcRuntime, &options.Options{BinaryName: r.Runc}))
	}
	c, err := r.Client.NewContainer(cctx, r.ID, opts...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("creating container %s: %w", r.ID, err)
	}
	fail := func(err error, task containerd.Task) (containerd.Container, containerd.Task, <-chan containerd.ExitStatus, error) {
		dctx, cancel := r.control()
		defer cancel()
		if task != nil {
			_, _ = task.Delete(dctx, containerd.WithProcessKill)
		}
		_ = c.Delete(dctx)
		return nil, nil, nil, err
	}
	ioOpts := []cio.Opt{cio.WithStreams(nil, r.Stdout, r.Stderr)}
	if r.FIFODir != "" {
		ioOpts = append(ioOpts, cio.WithFIFODir(r.FIFODir))
	}
	task, err := c.NewTask(cctx, cio.NewCreator(ioOpts...))
	if err != nil {
		return fail(fmt.Errorf("creating task %s: %w", r.ID, err), nil)
	}
	r.setIO(task.IO())
	if r.Hooks != nil {
		if err := r.Hooks.Created(int(task.Pid())); err != nil {
			return fail(fmt.Errorf("preparing %s: %w", r.ID, err), task)
		}
	}
	// Wait before Start, or a task that exits at once could be missed.
	exitC, err := task.Wait(cctx)
	if err != nil {
		return fail(fmt.Errorf("watching task %s: %w", r.ID, err), task)
	}
	// Stopped while being created: do not start only to stop at once.
	if ctx.Err() != nil {
		return fail(ctx.Err(), task)
	}
	if err := task.Start(cctx); err != nil {
		return fail(fmt.Errorf("starting task %s: %w", r.ID, err), task)
	}
	return c, task, exitC, nil
}

// adopt returns the task of our id if it is running, attached to our
// output writers, or a nil task when there is none to adopt.
func (r *Containerd) adopt(cctx context.Context) (containerd.Container, containerd.Task, <-chan containerd.ExitStatus, error) {
	ctx, cancel := r.control()
	defer cancel()
	c, err := r.Client.LoadContainer(ctx, r.ID)
	if err != nil {
		return nil, nil, nil, nil
	}
	// Output still flows into this runner's writers when an earlier run of
	// it attached (containerd restarted); a new svcd attaches afresh to
	// the FIFOs the shim still holds.
	var attach cio.Attach
	if r.currentIO() == nil {
		attach = cio.NewAttach(cio.WithStreams(nil, r.Stdout, r.Stderr))
	}
	task, err := c.Task(ctx, attach)
	if err != nil {
		return nil, nil, nil, nil
	}
	st, err := task.Status(ctx)
	if err != nil || st.Status != containerd.Running {
		if task.IO() != nil {
			task.IO().Close()
		}
		return nil, nil, nil, nil
	}
	if attach != nil {
		r.setIO(task.IO())
	}
	exitC, err := task.Wait(cctx)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("watching adopted task %s: %w", r.ID, err)
	}
	return c, task, exitC, nil
}

// watch waits for the task to exit, or stops it when ctx is cancelled. keep
// says the wait was cut by containerd going away, not by the task ending.
func (r *Containerd) watch(ctx context.Context, task containerd.Task, exitC <-chan containerd.ExitStatus, notify Notify) (int, error, bool) {
	select {
	case st := <-exitC:
		code, err := exitResult(st)
		return code, err, st.Error() != nil
	case <-ctx.Done():
	}
	notify.send(Event{State: StateStopping, Pid: int(task.Pid())})
	sig, timeout := r.StopSignal, r.StopTimeout
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	kctx, cancel := r.control()
	defer cancel()
	if err := task.Kill(kctx, sig); err != nil && !errdefs.IsNotFound(err) {
		return -1, fmt.Errorf("sending %s to %s: %w", sig, r.ID, err), false
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case st := <-exitC:
		code, err := exitResult(st)
		return code, err, false
	case <-t.C:
	}
	if err := task.Kill(kctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return -1, fmt.Errorf("killing %s: %w", r.ID, err), false
	}
	select {
	case st := <-exitC:
		code, err := exitResult(st)
		return code, err, false
	case <-kctx.Done():
		return -1, fmt.Errorf("%s did not exit after SIGKILL: %w", r.ID, kctx.Err()), false
	}
}

func (r *Containerd) setIO(i cio.IO) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.io = i
}

func (r *Containerd) currentIO() cio.IO {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.io
}

// closeIO ends the copying of the task's output once the task is gone.
func (r *Containerd) closeIO() {
	r.mu.Lock()
	i := r.io
	r.io = nil
	r.mu.Unlock()
	if i != nil {
		i.Wait()
		i.Close()
	}
}

// Exec runs args inside the running task, with the task's own environment
// and user, and returns its exit code: the exec health probe.
func (r *Containerd) Exec(ctx context.Context, args []string) (int, error) {
	ctx = namespaces.WithNamespace(ctx, r.namespace())
	c, err := r.Client.LoadContainer(ctx, r.ID)
	if err != nil {
		return -1, fmt.Errorf("loading container %s: %w", r.ID, err)
	}
	task, err := c.Task(ctx, nil)
	if err != nil {
		return -1, fmt.Errorf("loading task %s: %w", r.ID, err)
	}
	spec, err := c.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("reading spec of %s: %w", r.ID, err)
	}
	p := *spec.Process
	p.Args = args
	p.Terminal = false
	id := fmt.Sprintf("probe-%d", execSeq.Add(1))
	proc, err := task.Exec(ctx, id, &p, cio.NullIO)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", r.ID, err)
	}
	defer func() {
		dctx, cancel := r.control()
		defer cancel()
		_, _ = proc.Delete(dctx, containerd.WithProcessKill)
	}()
	exitC, err := proc.Wait(ctx)
	if err != nil {
		return -1, fmt.Errorf("watching exec in %s: %w", r.ID, err)
	}
	if err := proc.Start(ctx); err != nil {
		return -1, fmt.Errorf("starting %q in %s: %w", args, r.ID, err)
	}
	select {
	case st := <-exitC:
		return exitResult(st)
	case <-ctx.Done():
		return -1, fmt.Errorf("%q in %s: %w", args, r.ID, ctx.Err())
	}
}

func exitResult(st containerd.ExitStatus) (int, error) {
	code, _, err := st.Result()
	if err != nil {
		// Wait failing (containerd went away) says nothing about the task.
		return -1, fmt.Errorf("waiting for task: %w", err)
	}
	if code == containerd.UnknownExitStatus {
		return -1, errors.New("task exit status unknown")
	}
	return int(code), nil
}
