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
