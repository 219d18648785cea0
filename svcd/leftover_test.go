package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/svcd/runner"
)

// startContainerd runs the build's containerd with the image's config moved
// under e.tmp and returns a client once it answers.
func (e hostEnv) startContainerd(tb testing.TB) *containerd.Client {
	tb.Helper()
	conf := filepath.Join(e.tmp, "containerd.toml")
	if err := os.WriteFile(conf, containerdConfig(tb, e.tmp), 0o644); err != nil {
		tb.Fatal(err)
	}
	sock := filepath.Join(e.tmp, "c.sock")
	ctrd := exec.Command(filepath.Join(e.build, "containerd"), "--config", conf, "--address", sock)
	ctrd.Env = append(os.Environ(), "PATH="+e.build+":"+os.Getenv("PATH"))
	if err := ctrd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ctrd.Process.Kill(); ctrd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		client, err := containerd.New(sock)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err = client.Version(ctx)
			cancel()
			if err == nil {
				return client
			}
			client.Close()
		}
		if time.Now().After(deadline) {
			tb.Fatalf("containerd did not answer: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRestartOverLeftoverContainer: when the background delete of an ended
// task fails (a shim slow to go on a loaded machine), its container stays
// in containerd under the id the next run wants. The next run must sweep it
// and start, not fail with "already exists" (seen in qemu-test's crash loop
// under load).
func TestRestartOverLeftoverContainer(t *testing.T) {
	env := newHostEnv(t, "svcd-left-")
	client := env.startContainerd(t)
	defer client.Close()
	dir := filepath.Join(env.tmp, "svc")
	makeBundle(t, dir, bundle.Keel{Name: "left", Phase: bundle.PhaseService}, "exit 0")
	r := &runner.Containerd{Client: client, ID: "left", Bundle: dir, Runc: filepath.Join(env.build, "runc"),
		FIFODir: filepath.Join(env.tmp, "fifo"), StopTimeout: time.Second}
	defer r.Release()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if code, err := r.Run(ctx, nil); code != 0 || err != nil {
		t.Fatalf("first run: got %d, %v; want 0, nil", code, err)
	}
	// The next run alternates to the other id: put a container there.
	next := "left" + runner.AltSuffix
	if r.CurrentID() == next {
		next = "left"
	}
	spec, err := runner.LoadSpec(dir)
	if err != nil {
		t.Fatal(err)
	}
	cctx := namespaces.WithNamespace(ctx, runner.DefaultNamespace)
	if _, err := client.NewContainer(cctx, next, containerd.WithSpec(spec),
		containerd.WithRuntime("io.containerd.runc.v2", &options.Options{BinaryName: filepath.Join(env.build, "runc")})); err != nil {
		t.Fatalf("making the leftover container %s: %v", next, err)
	}
	if code, err := r.Run(ctx, nil); code != 0 || err != nil {
		t.Fatalf("run over a leftover container %s: got %d, %v; want 0, nil", next, code, err)
	}
	if got := r.CurrentID(); got != next {
		t.Errorf("second run ran as %s, want %s", got, next)
	}
}

// TestAdoptFailureIsAnError: a run that cannot ask containerd whether a
// task of its ids is running fails with that error; it does not take the
// failure for "nothing to adopt" and go on to sweep and create, which
// would kill a running task it could not see.
func TestAdoptFailureIsAnError(t *testing.T) {
	env := newHostEnv(t, "svcd-adopt-")
	client := env.startContainerd(t)
	dir := filepath.Join(env.tmp, "svc")
	makeBundle(t, dir, bundle.Keel{Name: "adopt", Phase: bundle.PhaseService}, "exit 0")
	r := &runner.Containerd{Client: client, ID: "adopt", Bundle: dir, Runc: filepath.Join(env.build, "runc"),
		FIFODir: filepath.Join(env.tmp, "fifo"), StopTimeout: time.Second}
	client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code, err := r.Run(ctx, nil)
	if code != -1 || err == nil || !strings.Contains(err.Error(), "to adopt") {
		t.Fatalf("run with containerd unreachable: got %d, %v; want -1 and an error looking for the task to adopt", code, err)
	}
}
