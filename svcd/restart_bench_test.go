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

// BenchmarkRestartLatency kills a service with SIGKILL and measures, on real
// containerd and runc with no backoff, three spans of svcd's exit-driven
// restart path:
//
//	exit-to-request-ms  exit event seen -> replacement task asked for (svcd's own
//	                    work; the issue bounds it at 50 ms)
//	exit-to-running-ms  exit event seen -> replacement started (adds containerd's
//	                    shim start, runc create and start)
//	ms/restart          SIGKILL sent -> replacement reported running
func BenchmarkRestartLatency(b *testing.B) {
	env := newHostEnv(b, "svcd-bench-")
	build, tmp := env.build, env.tmp
	client := env.startContainerd(b)
	defer client.Close()

	dir := filepath.Join(tmp, "svc")
	makeBundle(b, dir, bundle.Keel{Name: "bench", Phase: bundle.PhaseService}, "exec sleep 1000")
	base := &runner.Containerd{Client: client, ID: "bench", Bundle: dir, Runc: filepath.Join(build, "runc"),
		FIFODir: filepath.Join(tmp, "fifo"), StopTimeout: time.Second}
	// Trace runs on the runner's goroutine; the channel hands the times
	// to the benchmark loop.
	stamps := make(chan [2]any, 64)
	base.Trace = func(stage string) { stamps <- [2]any{stage, time.Now()} }
	r := runner.WithRestart(base, runner.Policy{Mode: runner.RestartAlways}, runner.Backoff{})
	pids := make(chan int, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx, func(e runner.Event) {
			if e.State == runner.StateRunning && e.Pid > 0 {
				pids <- e.Pid
			}
		})
	}()
	defer func() { cancel(); <-done }()
	pid := <-pids
	drain := func() map[string]time.Time {
		got := map[string]time.Time{}
		for {
			select {
			case st := <-stamps:
				got[st[0].(string)] = st[1].(time.Time)
			default:
				return got
			}
		}
	}
	drain()
	var total, toRequest, toRunning, worstRequest time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			b.Fatal(err)
		}
		select {
		case pid = <-pids:
		case <-time.After(30 * time.Second):
			b.Fatal("no replacement within 30 s")
		}
		total += time.Since(t0)
		st := drain()
		exit, req, run := st[runner.TraceExit], st[runner.TraceCreate], st[runner.TraceRunning]
		if exit.IsZero() || req.IsZero() || run.IsZero() {
			b.Fatalf("restart %d: missing trace points: %v", i, st)
		}
		toRequest += req.Sub(exit)
		toRunning += run.Sub(exit)
		worstRequest = max(worstRequest, req.Sub(exit))
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(b.N) }
	b.ReportMetric(ms(total), "ms/restart")
	b.ReportMetric(ms(toRequest), "exit-to-request-ms")
	b.ReportMetric(ms(toRunning), "exit-to-running-ms")
	b.ReportMetric(float64(worstRequest.Microseconds())/1000, "worst-exit-to-request-ms")
}
