package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/svcd/runner"
)

// TestPrepareThenRun: Prepare, as boot calls it while onboot runs, sweeps
// the containers an earlier boot left under the service's ids and records
// the new one, from the spec svcd read once (Containerd.Spec); the run then
// takes that container (no second one is made) and runs to its end.
// Against a real containerd and runc.
func TestPrepareThenRun(t *testing.T) {
	env := newHostEnv(t, "svcd-prep-")
	client := env.startContainerd(t)
	defer client.Close()
	dir := filepath.Join(env.tmp, "svc")
	makeBundle(t, dir, bundle.Keel{Name: "prep", Phase: bundle.PhaseService}, "exit 0")
	runc := filepath.Join(env.build, "runc")
	r := &runner.Containerd{Client: client, ID: "prep", Bundle: dir, Runc: runc,
		FIFODir: filepath.Join(env.tmp, "fifo"), StopTimeout: time.Second}
	defer r.Release()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cctx := namespaces.WithNamespace(ctx, runner.DefaultNamespace)
	spec, err := runner.LoadSpec(dir)
	if err != nil {
		t.Fatal(err)
	}
	// The runner's copy, marked so the container shows which was used.
	own, err := runner.LoadSpec(dir)
	if err != nil {
		t.Fatal(err)
	}
	own.Annotations = map[string]string{"keel.test/spec": "field"}
	r.Spec = own
	// What a /var/lib/containerd on a disk keeps from the last boot: a
	// container of the other id, with a spec that is not this one's.
	stale := "prep" + runner.AltSuffix
	if _, err := client.NewContainer(cctx, stale, containerd.WithSpec(spec),
		containerd.WithRuntime("io.containerd.runc.v2", &options.Options{BinaryName: runc})); err != nil {
		t.Fatalf("making the stale container %s: %v", stale, err)
	}
	if err := r.Prepare(ctx); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	ids := func() []string {
		cs, err := client.Containers(cctx)
		if err != nil {
			t.Fatalf("listing containers: %v", err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, c.ID())
		}
		return out
	}
	if got := ids(); len(got) != 1 || got[0] != "prep" {
		t.Fatalf("containers after Prepare: got %q, want [prep] (the stale one swept, the service's recorded)", got)
	}
	c, err := client.LoadContainer(cctx, "prep")
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Spec(cctx)
	if err != nil {
		t.Fatalf("reading the prepared container's spec: %v", err)
	}
	if got.Annotations["keel.test/spec"] != "field" {
		t.Errorf("prepared container's spec: got annotations %v, want the runner's Spec (keel.test/spec=field)", got.Annotations)
	}
	if code, err := r.Run(ctx, nil); code != 0 || err != nil {
		t.Fatalf("run after Prepare: got %d, %v; want 0, nil", code, err)
	}
	if got := r.CurrentID(); got != "prep" {
		t.Errorf("the run ran as %s, want prep (the prepared container)", got)
	}
	// A second Prepare after a run does nothing.
	if err := r.Prepare(ctx); err != nil {
		t.Fatalf("Prepare after a run: %v", err)
	}
	if got := ids(); len(got) != 1 || got[0] != "prep" {
		t.Errorf("containers after the run and a second Prepare: got %q, want [prep] (kept for the next run)", got)
	}
}

// TestPrepareLeavesRunningTask: under a task that already runs (svcd
// restarted under a running system), Prepare touches nothing and the
// next run adopts that task.
func TestPrepareLeavesRunningTask(t *testing.T) {
	env := newHostEnv(t, "svcd-prepa-")
	client := env.startContainerd(t)
	defer client.Close()
	dir := filepath.Join(env.tmp, "svc")
	makeBundle(t, dir, bundle.Keel{Name: "live", Phase: bundle.PhaseService}, "sleep 60")
	mk := func() *runner.Containerd {
		return &runner.Containerd{Client: client, ID: "live", Bundle: dir, Runc: filepath.Join(env.build, "runc"),
			FIFODir: filepath.Join(env.tmp, "fifo"), StopTimeout: time.Second}
	}
	first := mk()
	defer first.Release()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run1, stop1 := context.WithCancel(ctx)
	pids := make(chan int, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		first.Run(run1, func(e runner.Event) { //nolint:errcheck // ended by stop1
			if e.State == runner.StateRunning {
				pids <- e.Pid
			}
		})
	}()
	var pid int
	select {
	case pid = <-pids:
	case <-time.After(30 * time.Second):
		t.Fatal("the first run did not report running")
	}
	// An svcd restarted: a new runner for the same service.
	second := mk()
	if err := second.Prepare(ctx); err != nil {
		t.Fatalf("Prepare under a running task: %v", err)
	}
	run2, stop2 := context.WithCancel(ctx)
	adopted := make(chan int, 4)
	done2 := make(chan struct{})
	go func() {
		defer close(done2)
		second.Run(run2, func(e runner.Event) { //nolint:errcheck // ended by stop2
			if e.State == runner.StateRunning {
				adopted <- e.Pid
			}
		})
	}()
	select {
	case got := <-adopted:
		if got != pid {
			t.Errorf("the run after Prepare reports pid %d, want the running task's %d (adopted)", got, pid)
		}
	case <-time.After(30 * time.Second):
		t.Error("the run after Prepare did not report running")
	}
	stop2()
	<-done2
	stop1()
	<-done
}
