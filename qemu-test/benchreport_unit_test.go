package qemutest

import (
	"math"
	"strings"
	"testing"

	"github.com/keel-os/keel/internal/bootlog"
	"github.com/keel-os/keel/svcd/api"
)

func TestGuestPhases(t *testing.T) {
	s := int64(1e9)
	boot := &api.Boot{
		Init: &bootlog.Log{Steps: []bootlog.Step{{Name: "mount-early", StartNS: 3 * s}, {Name: "svcd", StartNS: 6 * s}}},
		Events: []api.Event{
			{Name: "containerd", Phase: "system", State: "running", BootNS: 9 * s},
			{Name: "getty", Phase: "service", State: "running", BootNS: 10 * s},
			{Name: "getty", Phase: "service", State: "running", BootNS: 20 * s}, // a restart: not the first
			{Name: "db", Phase: "service", State: "running", BootNS: 11 * s},
			{Name: "db", Phase: "service", State: "running", Health: "healthy", BootNS: 12 * s},
			{Name: "benchcheck", Phase: "service", State: "running", BootNS: 30 * s},
		},
	}
	got, err := GuestPhases(boot, "benchcheck")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Phases{Init: 3, Svcd: 6, ContainerdReady: 9, ServicesReady: 12}); got != want {
		t.Errorf("GuestPhases = %+v, want %+v", got, want)
	}
	if _, err := GuestPhases(&api.Boot{}, "x"); err == nil {
		t.Error("empty timeline: got nil error")
	}
}

func TestParseFloor(t *testing.T) {
	pid1, exit, err := ParseFloor("run 1: pid1 2.81s, exit 3.40s\nfloor: pid1 median 2.82s, exit median 3.41s over 3 runs\n")
	if err != nil || pid1 != 2.82 || exit != 3.41 {
		t.Errorf("ParseFloor = %v, %v, %v; want 2.82, 3.41, nil", pid1, exit, err)
	}
	if pid1, _, err := ParseFloor("floor: pid1 median nans, exit median 0.52s over 3 runs"); err != nil || !math.IsNaN(pid1) {
		t.Errorf("ParseFloor(nan) = %v, %v; want NaN, nil", pid1, err)
	}
	if _, _, err := ParseFloor("nothing"); err == nil {
		t.Error("ParseFloor(nothing): got nil error")
	}
}

func TestParseBenchMetrics(t *testing.T) {
	out := "goos: linux\nBenchmarkBuildLinuxKitShaped-2   \t       1\t9000000000 ns/op\t  4.50 cold-s\t 0.80 warm-s\nPASS\n"
	m := ParseBenchMetrics(out, "BuildLinuxKitShaped")
	if m["cold-s"] != 4.5 || m["warm-s"] != 0.8 {
		t.Errorf("ParseBenchMetrics = %v, want cold-s 4.5, warm-s 0.8", m)
	}
	if ParseBenchMetrics(out, "Other") != nil {
		t.Error("another benchmark's name matched")
	}
}

func TestMarkdown(t *testing.T) {
	md := Markdown([]BenchRow{{What: "boot", Value: 14.5, Unit: "s", Floor: 5.2}, {What: "size", Value: 61, Unit: "MB", Floor: math.NaN()}})
	for _, want := range []string{"| boot | 14.5 s | 5.2× |", "| size | 61 MB |  |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
