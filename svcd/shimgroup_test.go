package main

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/svcd/runner"
)

// TestShimGroupRestart restarts a service that is alone in its shim group,
// on real containerd and runc: its replacement is asked for while the old
// task is being deleted, and deleting the shim's last task shuts the shim
// down under the new one. Every run must still start; none may fail with
// the shim gone (runner.Containerd retries on a fresh shim).
func TestShimGroupRestart(t *testing.T) {
	env := newHostEnv(t, "svcd-grp-")
	build, tmp := env.build, env.tmp
	client := env.startContainerd(t)
	defer client.Close()

	dir := filepath.Join(tmp, "svc")
	makeBundle(t, dir, bundle.Keel{Name: "alone", Phase: bundle.PhaseService}, "exec sleep 1000")
	r := &runner.Containerd{Client: client, ID: "alone", Bundle: dir, Runc: filepath.Join(build, "runc"),
		FIFODir: filepath.Join(tmp, "fifo"), StopTimeout: time.Second}
	defer r.Release()
	const runs = 8
	for i := 0; i < runs; i++ {
		pids := make(chan int, 4)
		type result struct {
			code int
			err  error
		}
		done := make(chan result, 1)
		go func() {
			code, err := r.Run(context.Background(), func(e runner.Event) {
				if e.State == runner.StateRunning && e.Pid > 0 {
					pids <- e.Pid
				}
			})
			done <- result{code, err}
		}()
		select {
		case pid := <-pids:
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		case res := <-done:
			t.Fatalf("run %d of %d: ended before running: got code %d, error %v; want a running task", i+1, runs, res.code, res.err)
		case <-time.After(30 * time.Second):
			t.Fatalf("run %d of %d: not running within 30 s", i+1, runs)
		}
		select {
		case res := <-done:
			if res.err != nil || res.code != 128+int(syscall.SIGKILL) {
				t.Fatalf("run %d of %d: got code %d, error %v; want 137 and no error", i+1, runs, res.code, res.err)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("run %d of %d: no exit within 30 s of SIGKILL", i+1, runs)
		}
	}
}
