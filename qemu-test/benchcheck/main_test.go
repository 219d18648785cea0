package main

import (
	"testing"

	"github.com/keel-os/keel/svcd/api"
)

func TestMeminfo(t *testing.T) {
	text := "MemTotal:        1004560 kB\nMemFree:          800000 kB\nMemAvailable:     900123 kB\n"
	for key, want := range map[string]int64{"MemTotal": 1004560, "MemAvailable": 900123, "Nope": 0} {
		if got := meminfo(text, key); got != want {
			t.Errorf("meminfo(%s) = %d, want %d", key, got, want)
		}
	}
}

func TestSettled(t *testing.T) {
	base := []api.Container{
		{Name: "sysctl", Phase: "onboot", State: "exited"},
		{Name: "containerd", Phase: "system", State: "running"},
		{Name: "getty", Phase: "service", State: "running"},
		{Name: "benchcheck", Phase: "service", State: "starting"},
	}
	if !settled(base, "benchcheck") {
		t.Error("settled = false for a settled system")
	}
	for _, tc := range []struct {
		name string
		c    api.Container
	}{
		{"onboot running", api.Container{Name: "x", Phase: "onboot", State: "running"}},
		{"service starting", api.Container{Name: "x", Phase: "service", State: "starting"}},
		{"unhealthy", api.Container{Name: "x", Phase: "service", State: "running", Health: "starting"}},
	} {
		if settled(append(append([]api.Container(nil), base...), tc.c), "benchcheck") {
			t.Errorf("%s: settled = true, want false", tc.name)
		}
	}
}
func TestStatCPUMs(t *testing.T) {
	tests := []struct {
		name, line string
		want       int64
	}{
		// utime 12, stime 30, cutime 5, cstime 3 ticks: 500 ms.
		{"plain", "103 (svcd) S 1 103 103 0 -1 4194560 100 0 0 0 12 30 5 3 20 0 9 0 180 0 0", 500},
		{"name with spaces and parens", "7 (a) b (c) S 1 7 7 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 0 0", 20},
		{"truncated", "7 (x) S 1 7", 0},
		{"no name", "garbage", 0},
	}
	for _, tt := range tests {
		if got := statCPUMs(tt.line); got != tt.want {
			t.Errorf("%s: got %d ms, want %d", tt.name, got, tt.want)
		}
	}
}

func TestProcStat(t *testing.T) {
	text := "cpu  100 2 50 900 7 1 3 0 0 0\ncpu0 60 1 30 450 4 1 2 0 0 0\ncpu1 40 1 20 450 3 0 1 0 0 0\nintr 5 0\nctxt 10\n"
	busy, cpus := procStat(text)
	// user+nice+system+irq+softirq+steal = 100+2+50+1+3+0 ticks.
	if busy != 1560 || cpus != 2 {
		t.Errorf("got %d ms busy on %d CPUs, want 1560 ms on 2", busy, cpus)
	}
}
