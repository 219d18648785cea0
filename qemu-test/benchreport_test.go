package qemutest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/build"
	"github.com/keel-os/keel/packer/output"
	"github.com/keel-os/keel/packer/run"
)

// measuredBoot is one boot of the bench image.
type measuredBoot struct {
	data       BenchData
	phases     Phases
	wallReady  time.Duration // QEMU start to BENCH-DATA
	wallExit   time.Duration // QEMU start to QEMU's exit
	cleanPower bool
}

var benchDataRe = regexp.MustCompile(`BENCH-DATA (\{.*\})\s*$`)

// bootBench boots prefix once with the bench check service and reads what
// it reported. A boot that does not report within the context fails.
func bootBench(ctx context.Context, prefix string, mem int, cmdline string) (*measuredBoot, error) {
	c, err := Boot(ctx, &run.QEMU{Prefix: prefix, Mem: mem, ExtraCmdline: cmdline})
	if err != nil {
		return nil, err
	}
	defer c.Kill()
	i, at, err := c.Expect(ctx, 0, regexp.MustCompile(`BENCH-DATA |BENCH-FAIL`))
	if err != nil {
		return nil, err
	}
	line := c.Lines(i, i+1)[0]
	m := benchDataRe.FindStringSubmatch(line)
	if m == nil {
		return nil, fmt.Errorf("benchcheck: %s", line)
	}
	b := &measuredBoot{wallReady: at}
	if err := json.Unmarshal([]byte(m[1]), &b.data); err != nil {
		return nil, fmt.Errorf("benchcheck's data: %w", err)
	}
	if b.phases, err = GuestPhases(b.data.Boot, "benchcheck"); err != nil {
		return nil, err
	}
	b.cleanPower = c.Wait(ctx) == nil
	b.wallExit = c.Elapsed()
	return b, nil
}

var memAvailableRe = regexp.MustCompile(`BENCH-MEM (\d+)`)

// bootExample boots prefix, an image of examples/minimal.yml alone (no
// check service, so exactly what a user builds), and returns the time from
// QEMU's start to svcd's "all services started". With readMem it then
// types a command into the example's console shell and returns the
// guest's MemAvailable in kB. QEMU is killed at the end: nothing in the
// example powers it off.
func bootExample(ctx context.Context, prefix string, mem int, cmdline string, readMem bool) (time.Duration, int64, error) {
	keys, typist := io.Pipe()
	defer typist.Close()
	c, err := Boot(ctx, &run.QEMU{Prefix: prefix, Mem: mem, ExtraCmdline: cmdline, Stdin: keys})
	if err != nil {
		return 0, 0, err
	}
	defer c.Kill()
	i, ready, err := c.Expect(ctx, 0, regexp.MustCompile(`svcd: all services started`))
	if err != nil || !readMem {
		return ready, 0, err
	}
	// The shell's prompt comes after the services; a newline brings it
	// back if it was printed among their lines. The command prints a line
	// its own echo cannot match.
	select {
	case <-time.After(3 * time.Second):
	case <-ctx.Done():
		return ready, 0, ctx.Err()
	}
	if _, err := io.WriteString(typist, "\n"); err != nil {
		return ready, 0, err
	}
	time.Sleep(time.Second)
	if _, err := io.WriteString(typist, "sed -n 's/^MemAvailable: *\\([0-9]*\\) kB/BENCH-MEM \\1/p' /proc/meminfo\n"); err != nil {
		return ready, 0, err
	}
	j, _, err := c.Expect(ctx, i, memAvailableRe)
	if err != nil {
		return ready, 0, fmt.Errorf("reading MemAvailable in the console shell: %w", err)
	}
	kb, err := strconv.ParseInt(memAvailableRe.FindStringSubmatch(c.Lines(j, j+1)[0])[1], 10, 64)
	return ready, kb, err
}

// TestBenchReport is `make bench`: one markdown table (and JSON) with the
// build times and sizes, boot phases next to the bare-kernel floor measured
// in the same run, memory after boot, the smallest memory the example boots
// in, and restart latency. The Makefile runs the floor and the build and
// restart benchmarks first and leaves their output in $KEEL_BENCH_DIR.
func TestBenchReport(t *testing.T) {
	dir := os.Getenv("KEEL_BENCH_DIR")
	if dir == "" {
		t.Skip("make bench runs this (set KEEL_BENCH_DIR)")
	}
	require(t)
	runs := 3
	if v, err := strconv.Atoi(os.Getenv("KEEL_BENCH_RUNS")); err == nil && v > 0 {
		runs = v
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Logf("no %s: %v (its rows are left out)", name, err)
		}
		return string(b)
	}
	floorPID1, floorExit, err := ParseFloor(read("floor.txt"))
	if err != nil {
		t.Logf("floor: %v", err)
		floorPID1, floorExit = math.NaN(), math.NaN()
	}
	var rows []BenchRow
	add := func(what string, v float64, unit string, floor float64) {
		r := BenchRow{What: what, Value: round(v, 2), Unit: unit}
		if x := v / floor; !math.IsNaN(x) && !math.IsInf(x, 0) {
			r.Floor = round(x, 1)
		}
		rows = append(rows, r)
	}

	if m := ParseBenchMetrics(read("build.txt"), "BuildLinuxKitShaped"); m != nil {
		add("build, cold (LinuxKit-shaped spec)", m["cold-s"], "s", math.NaN())
		add("build, warm (all cached)", m["warm-s"], "s", math.NaN())
		add("build, one service changed", m["rebuild-s"], "s", math.NaN())
	}

	// The default build first: its sizes and its memory are the ones
	// reported. The others are the build options that change boot time.
	var last *measuredBoot
	variants := []struct {
		name string
		opt  build.Options
	}{
		{"default (squashfs root, " + string(output.Default) + ")", build.Options{}},
		{"squashfs root, lz4", build.Options{Compress: "lz4"}},
		{"initrd root, " + string(output.Default), build.Options{Rootfs: build.RootfsInitrd}},
		{"initrd root, gzip", build.Options{Rootfs: build.RootfsInitrd, Compress: "gzip"}},
	}
	for vi, v := range variants {
		res, prefix := buildWith(t, v.opt, "examples/minimal.yml", "qemu-test/testdata/bench-check.yml")
		if st, err := os.Stat(res.Initrd); err == nil {
			add(v.name+": initrd size", float64(st.Size())/1e6, "MB", math.NaN())
		}
		if vi == 0 {
			if st, err := os.Stat(res.Kernel); err == nil {
				add("size: kernel", float64(st.Size())/1e6, "MB", math.NaN())
			}
			for _, s := range res.Segments {
				add("size: initrd part "+s.What, float64(s.Size)/1e6, "MB", math.NaN())
			}
		}
		var ready, exit, init, svcd, ctrd, svcs []float64
		var vlast *measuredBoot
		for i := 0; i < runs; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			b, err := bootBench(ctx, prefix, 1024, "")
			cancel()
			if err != nil {
				t.Fatalf("%s boot %d: %v", v.name, i+1, err)
			}
			if !b.cleanPower {
				t.Errorf("%s boot %d: qemu did not exit cleanly", v.name, i+1)
			}
			ready = append(ready, b.wallReady.Seconds())
			exit = append(exit, b.wallExit.Seconds())
			init = append(init, b.phases.Init)
			svcd = append(svcd, b.phases.Svcd)
			ctrd = append(ctrd, b.phases.ContainerdReady)
			svcs = append(svcs, b.phases.ServicesReady)
			vlast = b
		}
		if vi == 0 {
			last = vlast
		}
		add(v.name+": wall, QEMU start to every service ready", median(ready), "s", floorPID1)
		add(v.name+": wall, QEMU start to exit after poweroff", median(exit), "s", floorExit)
		add(v.name+": guest clock, kernel to init", median(init), "s", math.NaN())
		add(v.name+": guest clock, kernel to svcd", median(svcd), "s", math.NaN())
		add(v.name+": guest clock, kernel to containerd ready", median(ctrd), "s", math.NaN())
		add(v.name+": guest clock, kernel to every service ready", median(svcs), "s", math.NaN())
		add(v.name+": MemAvailable after boot", float64(vlast.data.MemAvailableKB)/1024, "MB", math.NaN())
	}
	if !math.IsNaN(floorPID1) {
		add("floor: wall, QEMU start to bare PID 1", floorPID1, "s", floorPID1)
		add("floor: wall, QEMU start to exit", floorExit, "s", floorExit)
	}
	add("memory: MemAvailable after boot (of "+strconv.FormatInt(last.data.MemTotalKB/1024, 10)+" MB)", float64(last.data.MemAvailableKB)/1024, "MB", math.NaN())
	add("memory: containerd-shim-runc-v2 processes", float64(last.data.Shims), "", math.NaN())
	for _, n := range []string{"init", "svcd", "containerd", "shims"} {
		add("memory: RSS of "+n, float64(last.data.RSSKB[n])/1024, "MB", math.NaN())
		if a, ok := last.data.AnonKB[n]; ok {
			add("memory: anonymous RSS of "+n, float64(a)/1024, "MB", math.NaN())
		}
	}
	// Under TCG the boot is bound by CPU (every guest CPU busy from init to
	// the last service): what each part costs in CPU is where its time goes.
	if d := last.data; d.CPUs > 0 {
		add(fmt.Sprintf("cpu: guest busy, kernel start to every service running (%d CPUs, %.2f s)", d.CPUs, float64(d.UptimeMs)/1000),
			float64(d.BusyMs)/1000, "s", math.NaN())
		for _, n := range []string{"init", "svcd", "containerd", "shims"} {
			what := n
			if n == "init" {
				// The kernel's own start-up runs as PID 1 before it
				// executes /init, and counts here.
				what = "PID 1 (the kernel's start-up, then init)"
			}
			if ms, ok := d.CPUMs[n]; ok {
				add("cpu: "+what+" and the children it reaped", float64(ms)/1000, "s", math.NaN())
			}
		}
	}

	// examples/minimal.yml alone, built as `make image` builds it: the
	// system the goals are about, without the check service's
	// third container and its report.
	// The host's speed drifts by tens of percent within minutes under
	// TCG, so a floor measured at the start of the run is not the floor
	// these boots ran beside: each boot of the example comes right after
	// one of the bare kernel (when the Makefile says how to boot it), and
	// the margin is the median of the pairs' differences.
	_, examplePrefix := buildWith(t, build.Options{}, "examples/minimal.yml")
	floor := floorFromEnv()
	pairs := runs
	if floor != nil {
		pairs = max(runs, 5)
	}
	var exReady, exFloor, exMargin []float64
	for i := 0; i < pairs; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		f := math.NaN()
		if floor != nil {
			var err error
			if f, err = floor.boot(ctx); err != nil {
				t.Logf("floor before boot %d: %v", i+1, err)
				f = math.NaN()
			}
		}
		d, _, err := bootExample(ctx, examplePrefix, 1024, "", false)
		cancel()
		if err != nil {
			t.Fatalf("examples/minimal.yml alone, boot %d: %v", i+1, err)
		}
		t.Logf("examples/minimal.yml alone, boot %d: every service after %.2fs, floor just before %.2fs", i+1, d.Seconds(), f)
		exReady = append(exReady, d.Seconds())
		if !math.IsNaN(f) {
			exFloor = append(exFloor, f)
			exMargin = append(exMargin, d.Seconds()-f)
		}
	}
	exFloorMedian := floorPID1
	if len(exFloor) > 0 {
		exFloorMedian = median(exFloor)
	}
	add("examples/minimal.yml alone: wall, QEMU start to every service running", median(exReady), "s", exFloorMedian)
	if len(exFloor) > 0 {
		add(fmt.Sprintf("examples/minimal.yml alone: floor, booted before each of its %d boots", len(exFloor)), exFloorMedian, "s", exFloorMedian)
		add("examples/minimal.yml alone: margin over that floor (median of the pairs' differences)", median(exMargin), "s", math.NaN())
	}

	// The smallest -m in which the example runs every service and its
	// console shell answers, by bisection on multiples of 8 MB (so the
	// sizes people give a machine, 128 or 256, are among those tried).
	lo, hi := 64, 1024 // lo fails (assumed), hi boots (measured above)
	avail := map[int]int64{}
	limit := 2*time.Duration(median(exReady)*float64(time.Second)) + 90*time.Second
	for hi-lo > 8 {
		mid := (lo + hi) / 16 * 8
		ctx, cancel := context.WithTimeout(context.Background(), limit)
		d, kb, err := bootExample(ctx, examplePrefix, mid, "panic=-1", true)
		cancel()
		t.Logf("-m %d: every service after %.1fs, MemAvailable %d kB, err=%v", mid, d.Seconds(), kb, err)
		if err == nil {
			hi, avail[mid] = mid, kb
		} else {
			lo = mid
		}
	}
	add("examples/minimal.yml alone: smallest -m that runs every service (±8)", float64(hi), "MB", math.NaN())
	if kb, ok := avail[hi]; ok {
		add("examples/minimal.yml alone: MemAvailable at that -m", float64(kb)/1024, "MB", math.NaN())
	}

	if m := ParseBenchMetrics(read("restart.txt"), "RestartLatency"); m != nil {
		add("restart: exit to replacement requested", m["exit-to-request-ms"], "ms", math.NaN())
		add("restart: exit to running again", m["exit-to-running-ms"], "ms", math.NaN())
	}

	// The floor and every boot here ran under the same decision (the
	// Makefile hands `keel run accel` to the floor tool as ACCEL).
	md := "Accelerator: " + accel.String() + "\n\n" + Markdown(rows)
	js, err := JSON(rows)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.md"), []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("\n%s\n(%d boots per compression; %s/report.json)\n", md, runs, dir)
}
