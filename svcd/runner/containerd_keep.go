package runner

import (
	"context"
	"fmt"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
)

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
