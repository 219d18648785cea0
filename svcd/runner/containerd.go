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

// ShimGroupAnnotation is the OCI annotation the runc v2 shim groups
// containers by: every container whose spec names the same group (in the
// same containerd namespace) runs under one shim process.
const ShimGroupAnnotation = "io.containerd.runc.v2.group"

// ShimGroup is the group every service joins unless its spec names its own.
// One shim for all services saves, per service, the shim daemon's process
// start (0.1-0.3 s under QEMU TCG) and its few MB of resident memory.
//
// What a shared shim changes, and why nothing is kept out by default: the
// shim only relays; runc options, cgroups (cgroupsPath, resources), the
// runtime section's hooks (run by svcd on the host) and restart policies are
// all per container and behave alike in a shared shim. The one difference is
// the blast radius of a shim crash: every grouped task dies with it and
// containerd reports an exit for each (137), so each service restarts per its
// own policy, and one with restart "no" stays down as it would had its own
// shim died. A service that must not share that fate names its own group in
// its spec's annotations (keel's `annotations:`), which is kept as is.
const ShimGroup = "keel-services"

// groupShim puts spec into ShimGroup unless it names a group of its own.
func groupShim(spec *specs.Spec) {
	if _, ok := spec.Annotations[ShimGroupAnnotation]; ok {
		return
	}
	if spec.Annotations == nil {
		spec.Annotations = map[string]string{}
	}
	spec.Annotations[ShimGroupAnnotation] = ShimGroup
}

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
	// Spec, when set, is the bundle's spec as LoadSpec reads it: svcd
	// reads it once, when it checks the bundle, instead of at every
	// preparation and run (under emulation a LinuxKit spec with its
	// seccomp profile is tens of milliseconds of JSON each time).
	Spec *specs.Spec
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
	// 0 means DefaultStopTimeout.
	StopTimeout time.Duration
	// Hooks, when set, run around creation (the runtime section).
	Hooks Hooks
	// CgroupRoot is the cgroup v2 mount, where an OOM kill is looked
	// for; empty means DefaultCgroupRoot.
	CgroupRoot string

	// Trace, when set, is called at the points the restart benchmark
	// measures: TraceExit when the task's exit event arrives, TraceCreate
	// just before the replacement task is asked for, TraceRunning once it
	// started.
	Trace func(stage string)

	mu sync.Mutex
	// io is the output copier of the task this runner last created or
	// attached to; it outlives a containerd restart.
	io cio.IO
	// cur is the container id of the last task created or adopted.
	cur string
	// deleting holds, per container id, a channel closed once the
	// background delete of that id's old task and container is done.
	deleting map[string]chan struct{}
	// kept holds containers whose task is deleted (or being deleted) and
	// that the next run under that id reuses, saving a metadata write.
	kept map[string]containerd.Container
	// known is set once a run ended normally: nothing of ours can be
	// left to adopt or remove, so the next run skips those round trips.
	known bool
}

// The stages passed to Containerd.Trace.
const (
	TraceExit    = "exit"
	TraceCreate  = "create"
	TraceRunning = "running"
)

// AltSuffix marks the second container id a service alternates with. A
// replacement is created under the id the last run did not use, so it need
// not wait for containerd to delete the old task (a shim shutdown and
// cleanup, 150-200 ms): containerd allows one task per container id.
const AltSuffix = ".r"

// ids are the two container ids a service runs under.
func (r *Containerd) ids() [2]string { return [2]string{r.ID, r.ID + AltSuffix} }

// CurrentID is the containerd container id of the task last created or
// adopted (ID or ID+AltSuffix); ID before the first run.
func (r *Containerd) CurrentID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur == "" {
		return r.ID
	}
	return r.cur
}

func (r *Containerd) trace(stage string) {
	if r.Trace != nil {
		r.Trace(stage)
	}
}

var execSeq atomic.Uint64

// spec is r.Spec, or the bundle's spec read now when r.Spec is not set.
func (r *Containerd) spec() (*specs.Spec, error) {
	if r.Spec != nil {
		return r.Spec, nil
	}
	return LoadSpec(r.Bundle)
}

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

// Hooks run host-side work around a container's creation: LinuxKit's
// runtime section. Nil Hooks do nothing.
type Hooks interface {
	// Create runs before the container is created.
	Create() error
	// Created runs once the task exists (its namespaces too) and before
	// its process starts.
	Created(pid int) error
}

// Run implements Runner. A task of either of the service's ids that is
// already running (svcd or containerd was restarted under it) is adopted,
// not recreated.
//
// A task that exits by itself is deleted in the background and Run returns
// at once, so a restart asks for the replacement (under the other id)
// within milliseconds of the exit. A spec with a cgroupsPath is the
// exception: both containers would share that cgroup, and runc deleting the
// old one may kill what is in it, so the delete finishes first.
func (r *Containerd) Run(ctx context.Context, notify Notify) (code int, err error) {
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	spec, err := r.spec()
	if err != nil {
		return -1, err
	}
	// Creation is not tied to ctx: a cancel half-way through would leave
	// a container behind. Cancellation is looked at once the task runs.
	cctx := namespaces.WithNamespace(context.Background(), r.namespace())
	var t *startedTask
	r.mu.Lock()
	known := r.known
	r.mu.Unlock()
	if !known {
		if t, err = r.adopt(cctx); err != nil {
			return -1, err
		}
	}
	if t == nil {
		if t, err = r.create(ctx, cctx, spec, !known); err != nil || t == nil {
			r.Release()
			// Something may be left half-made: the next run sweeps.
			r.mu.Lock()
			r.known = false
			r.mu.Unlock()
			return -1, err
		}
	}
	c, task := t.c, t.task
	// w.Lost is set when containerd went away: the task lives on in its
	// shim and the next run adopts it, so it must not be deleted.
	var w watched
	defer func() {
		r.mu.Lock()
		r.known = !w.Lost
		r.mu.Unlock()
		if w.Lost {
			return
		}
		// The last lines must be in the log before the run is over.
		r.closeIO()
		shared := spec.Linux != nil && spec.Linux.CgroupsPath != ""
		if w.Exited && (err == nil || errors.Is(err, ErrOOMKilled)) && !shared {
			r.deleteLater(c, task)
			return
		}
		dctx, cancel := r.control()
		defer cancel()
		if _, derr := task.Delete(dctx, containerd.WithProcessKill); derr != nil && !errdefs.IsNotFound(derr) && err == nil {
			err = fmt.Errorf("deleting task %s: %w", c.ID(), derr)
		}
		if derr := c.Delete(dctx); derr != nil && !errdefs.IsNotFound(derr) && err == nil {
			err = fmt.Errorf("deleting container %s: %w", c.ID(), derr)
		}
		// A stopped service leaves nothing behind in containerd.
		if ctx.Err() != nil {
			r.Release()
		}
	}()
	root := r.CgroupRoot
	if root == "" {
		root = DefaultCgroupRoot
	}
	oom := watchOOM("/proc", int(task.Pid()), root)
	notify.send(Event{State: StateRunning, Pid: int(task.Pid())})
	w = r.watch(ctx, t, notify)
	code, err = w.Code, w.Err
	if w.Exited && err == nil {
		err = oom.check(code)
	}
	return code, err
}

// startedTask is a running task of this runner, created or adopted: its
// container, the task, and where its exit will arrive.
type startedTask struct {
	c     containerd.Container
	task  containerd.Task
	exitC <-chan containerd.ExitStatus
}

// create makes the container and its task from the bundle and starts it.
// A cancel of ctx before the start removes what was made and returns
// ctx's error.
// When sweep is set, containers of either id left behind by an earlier svcd
// are removed first.
func (r *Containerd) create(ctx, cctx context.Context, spec *specs.Spec, sweep bool) (*startedTask, error) {
	ids := r.ids()
	// The id the last run did not use.
	r.mu.Lock()
	id := ids[0]
	if r.cur == ids[0] {
		id = ids[1]
	}
	r.mu.Unlock()
	if sweep {
		for _, x := range ids {
			if err := r.removeStale(x); err != nil {
				return nil, err
			}
		}
	}
	// Only a restart quicker than containerd's delete waits here.
	r.waitDeleted(id)
	if r.Hooks != nil {
		if err := r.Hooks.Create(); err != nil {
			return nil, fmt.Errorf("preparing %s: %w", r.ID, err)
		}
	}
	c := r.takeKept(id)
	if c == nil {
		var err error
		if c, err = r.newContainer(cctx, id, spec); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	r.cur = id
	r.mu.Unlock()
	fail := func(err error, task containerd.Task) (*startedTask, error) {
		dctx, cancel := r.control()
		defer cancel()
		if task != nil {
			_, _ = task.Delete(dctx, containerd.WithProcessKill)
		}
		_ = c.Delete(dctx)
		return nil, err
	}
	ioOpts := []cio.Opt{cio.WithStreams(nil, r.Stdout, r.Stderr)}
	if r.FIFODir != "" {
		ioOpts = append(ioOpts, cio.WithFIFODir(r.FIFODir))
	}
	r.trace(TraceCreate)
	task, err := r.newTask(cctx, c, cio.NewCreator(ioOpts...))
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
	r.trace(TraceRunning)
	return &startedTask{c: c, task: task, exitC: exitC}, nil
}

// newTask creates c's task. The replacement of an exited task is asked for
// while the old one is deleted in the background, and in a shared shim
// (ShimGroup) that races: if the old task was the shim's last, deleting it
// shuts the shim down, and a new task that containerd just handed to that
// shim fails ("ttrpc: closed"). So when a delete of the service's other id
// was under way, a failure is retried once that delete is over (the next
// task starts a fresh shim), twice at most.
func (r *Containerd) newTask(cctx context.Context, c containerd.Container, creator cio.Creator) (containerd.Task, error) {
	other := r.ids()[0]
	if c.ID() == other {
		other = r.ids()[1]
	}
	r.mu.Lock()
	done := r.deleting[other]
	r.mu.Unlock()
	pending := false
	if done != nil {
		select {
		case <-done:
		default:
			pending = true
		}
	}
	task, err := c.NewTask(cctx, creator)
	for try := 1; err != nil && pending && try <= shimRetries; try++ {
		select {
		case <-done:
		case <-cctx.Done():
			return task, err
		}
		// The shim may still be closing its socket after the delete.
		time.Sleep(time.Duration(try-1) * 50 * time.Millisecond)
		task, err = c.NewTask(cctx, creator)
	}
	return task, err
}

// shimRetries is how many times newTask retries after a shim shut down
// under it.
const shimRetries = 2

// adopt returns the running task of either of our ids, attached to our
// output writers, or nil when there is none to adopt.
func (r *Containerd) adopt(cctx context.Context) (*startedTask, error) {
	for _, id := range r.ids() {
		t, err := r.adoptID(cctx, id)
		if err != nil || t != nil {
			return t, err
		}
	}
	return nil, nil
}

// adoptID returns the running task of container id, or nil when there is
// nothing to adopt: no such container, no task, or a task that is not
// running (the sweep before the next create removes those). Any other
// failure is returned, not taken for "nothing": the create that follows
// "nothing" sweeps, and would kill a task that is running but could not
// be asked about.
func (r *Containerd) adoptID(cctx context.Context, id string) (*startedTask, error) {
	ctx, cancel := r.control()
	defer cancel()
	c, err := r.Client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking for container %s to adopt: %w", id, err)
	}
	// Output still flows into this runner's writers when an earlier run of
	// it attached (containerd restarted); a new svcd attaches afresh to
	// the FIFOs the shim still holds.
	var attach cio.Attach
	if r.currentIO() == nil {
		attach = cio.NewAttach(cio.WithStreams(nil, r.Stdout, r.Stderr))
	}
	task, err := c.Task(ctx, attach)
	if errdefs.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking for the task of container %s to adopt: %w", id, err)
	}
	st, err := task.Status(ctx)
	if err != nil || st.Status != containerd.Running {
		if task.IO() != nil {
			task.IO().Close()
		}
		if err != nil && !errdefs.IsNotFound(err) {
			return nil, fmt.Errorf("reading the state of task %s to adopt: %w", id, err)
		}
		return nil, nil
	}
	if attach != nil {
		r.setIO(task.IO())
	}
	exitC, err := task.Wait(cctx)
	if err != nil {
		return nil, fmt.Errorf("watching adopted task %s: %w", id, err)
	}
	r.mu.Lock()
	r.cur = id
	r.mu.Unlock()
	return &startedTask{c: c, task: task, exitC: exitC}, nil
}

// watched is how the watch of a task ended.
type watched struct {
	Code int
	Err  error
	// Lost says the wait was cut by containerd going away, not by the
	// task ending: the task lives on in its shim.
	Lost bool
	// Exited says the task ended by itself.
	Exited bool
}

// watch waits for the task to exit, or stops it when ctx is cancelled.
func (r *Containerd) watch(ctx context.Context, t *startedTask, notify Notify) watched {
	select {
	case st := <-t.exitC:
		r.trace(TraceExit)
		code, err := exitResult(st)
		lost := st.Error() != nil
		return watched{Code: code, Err: err, Lost: lost, Exited: !lost}
	case <-ctx.Done():
	}
	notify.send(Event{State: StateStopping, Pid: int(t.task.Pid())})
	// One bound for the signals and the wait after SIGKILL: a hung
	// containerd cannot hold a shutdown forever.
	kctx, cancel := r.control()
	defer cancel()
	res, err := stop(kctx, stopper{
		Signal:  r.StopSignal,
		Timeout: r.StopTimeout,
		Send: func(sig syscall.Signal) error {
			if err := t.task.Kill(kctx, sig); err != nil && !errdefs.IsNotFound(err) {
				return fmt.Errorf("sending %s to %s: %w", sig, r.ID, err)
			}
			return nil
		},
		Kill: func() error {
			if err := t.task.Kill(kctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
				return fmt.Errorf("killing %s: %w", r.ID, err)
			}
			return nil
		},
	}, t.exitC)
	if errors.Is(err, errNoExit) {
		return watched{Code: -1, Err: fmt.Errorf("%s %w", r.ID, err)}
	}
	if err != nil {
		return watched{Code: -1, Err: err}
	}
	code, err := exitResult(res.Exit)
	return watched{Code: code, Err: err}
}
