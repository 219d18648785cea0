package runner

import (
	"context"
	"fmt"

	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Preparer is a Runner that can do, ahead of its first run, the part of
// that run which changes nothing its container could see, so that part
// need not wait for what the run itself must wait for.
type Preparer interface {
	Prepare(ctx context.Context) error
}

// Prepare does ahead of the first Run what that run would first ask of
// containerd: it looks for a task to adopt, removes containers of the
// service's ids left by an earlier boot (a /var/lib/containerd on a disk
// keeps them) and records the service's container, which is containerd's
// metadata only (its spec and runtime); Run then takes that container and
// goes straight to the task, which is where the system is touched (mounts,
// namespaces, cgroups, the runtime section's hooks). svcd's boot calls it
// while the onboot containers still run: about 0.2 s of containerd round
// trips under emulation, out of the wait for the services.
//
// It does nothing after a run, or when a task already runs under either
// id (svcd restarted under a running system: Run adopts it). When it
// fails, Run does it all as it would have.
func (r *Containerd) Prepare(ctx context.Context) error {
	r.mu.Lock()
	done := r.known || r.cur != ""
	r.mu.Unlock()
	if done {
		return nil
	}
	spec, err := r.spec()
	if err != nil {
		return err
	}
	cctx := namespaces.WithNamespace(ctx, r.namespace())
	ids := r.ids()
	for _, id := range ids {
		running, err := r.taskRunning(cctx, id)
		if err != nil || running {
			return err
		}
	}
	for _, id := range ids {
		if err := r.removeStale(id); err != nil {
			return err
		}
	}
	c, err := r.newContainer(cctx, ids[0], spec)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.deleting == nil {
		r.deleting = map[string]chan struct{}{}
		r.kept = map[string]containerd.Container{}
	}
	r.kept[ids[0]] = c
	// Nothing is left to adopt or sweep: Run goes straight to the create.
	r.known = true
	return nil
}

// taskRunning says whether container id has a running task, without
// attaching to its output.
func (r *Containerd) taskRunning(cctx context.Context, id string) (bool, error) {
	c, err := r.Client.LoadContainer(cctx, id)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking for container %s: %w", id, err)
	}
	task, err := c.Task(cctx, nil)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking for the task of container %s: %w", id, err)
	}
	st, err := task.Status(cctx)
	if errdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the state of task %s: %w", id, err)
	}
	return st.Status == containerd.Running, nil
}

// newContainer records the service's container under id in containerd: its
// spec, in the shared shim's group unless it names its own, and runc.
func (r *Containerd) newContainer(cctx context.Context, id string, spec *specs.Spec) (containerd.Container, error) {
	groupShim(spec)
	opts := []containerd.NewContainerOpts{containerd.WithSpec(spec)}
	if r.Runc != "" {
		opts = append(opts, containerd.WithRuntime(runcRuntime, &options.Options{BinaryName: r.Runc}))
	}
	c, err := r.Client.NewContainer(cctx, id, opts...)
	if errdefs.IsAlreadyExists(err) {
		// The background delete of an earlier run under this id
		// failed (a shim slow to go under load): sweep, once.
		if err = r.removeStale(id); err == nil {
			c, err = r.Client.NewContainer(cctx, id, opts...)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("creating container %s: %w", id, err)
	}
	return c, nil
}

// What a Containerd runner keeps and deletes in containerd between runs.

// removeStale deletes a container (and its task) of id left behind by a
// previous run or a previous svcd.
func (r *Containerd) removeStale(id string) error {
	ctx, cancel := r.control()
	defer cancel()
	c, err := r.Client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("looking for a stale container %s: %w", id, err)
	}
	return r.remove(ctx, c)
}

// remove deletes c's task, killing it if needed, and then c.
func (r *Containerd) remove(ctx context.Context, c containerd.Container) error {
	if t, err := c.Task(ctx, nil); err == nil {
		if _, err := t.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("deleting task %s: %w", c.ID(), err)
		}
	}
	if err := c.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("deleting container %s: %w", c.ID(), err)
	}
	return nil
}

// deleteLater deletes the ended task in the background, keeping its
// container for reuse, and records it so a run that wants the id again
// waits for the delete.
func (r *Containerd) deleteLater(c containerd.Container, task containerd.Task) {
	done := make(chan struct{})
	r.mu.Lock()
	if r.deleting == nil {
		r.deleting = map[string]chan struct{}{}
		r.kept = map[string]containerd.Container{}
	}
	r.deleting[c.ID()] = done
	r.kept[c.ID()] = c
	r.mu.Unlock()
	go func() {
		defer close(done)
		ctx, cancel := r.control()
		defer cancel()
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			r.mu.Lock()
			delete(r.kept, c.ID())
			r.mu.Unlock()
			_ = r.remove(ctx, c)
		}
	}()
}

// takeKept returns the container kept for id, if any, and forgets it.
func (r *Containerd) takeKept(id string) containerd.Container {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.kept[id]
	delete(r.kept, id)
	return c
}

// Release deletes what the runner keeps in containerd between runs (the
// containers of ended tasks). The restart decorator calls it once it will
// not run the service again; a later Run still works.
func (r *Containerd) Release() {
	r.waitAllDeleted()
	ctx, cancel := r.control()
	defer cancel()
	for _, id := range r.ids() {
		if c := r.takeKept(id); c != nil {
			_ = r.remove(ctx, c)
		}
	}
}

// waitDeleted returns once no background delete of id is going on.
func (r *Containerd) waitDeleted(id string) {
	r.mu.Lock()
	done := r.deleting[id]
	r.mu.Unlock()
	if done != nil {
		<-done
	}
}

// waitAllDeleted returns once every background delete is done.
func (r *Containerd) waitAllDeleted() {
	for _, id := range r.ids() {
		r.waitDeleted(id)
	}
}
