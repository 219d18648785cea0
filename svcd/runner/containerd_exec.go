package runner

import (
	"context"
	"errors"
	"fmt"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

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
	cid := r.CurrentID()
	c, err := r.Client.LoadContainer(ctx, cid)
	if err != nil {
		return -1, fmt.Errorf("loading container %s: %w", cid, err)
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
