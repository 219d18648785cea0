package qemutest

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
)

// floorBoots runs the bare-kernel floor tool for one boot at a time, as
// the Makefile's bench target describes it in the environment: the tool
// (KEEL_BENCH_FLOOR), the kernel it boots (KEEL_BENCH_FLOOR_KERNEL), and
// the accelerator and QEMU arguments it is given (KEEL_BENCH_FLOOR_ACCEL,
// KEEL_BENCH_FLOOR_QEMU_ARGS), so that it boots as the run's first floor
// measurement did.
type floorBoots struct {
	tool, kernel, accel, qemuArgs string
}

// floorFromEnv is the floor tool the environment names, or nil.
func floorFromEnv() *floorBoots {
	f := &floorBoots{
		tool:     os.Getenv("KEEL_BENCH_FLOOR"),
		kernel:   os.Getenv("KEEL_BENCH_FLOOR_KERNEL"),
		accel:    os.Getenv("KEEL_BENCH_FLOOR_ACCEL"),
		qemuArgs: os.Getenv("KEEL_BENCH_FLOOR_QEMU_ARGS"),
	}
	if f.tool == "" || f.kernel == "" {
		return nil
	}
	if _, err := os.Stat(f.tool); err != nil {
		return nil
	}
	return f
}

// boot boots the bare kernel once and returns the wall time, in seconds,
// from QEMU's start to its PID 1.
func (f *floorBoots) boot(ctx context.Context) (float64, error) {
	cmd := exec.CommandContext(ctx, f.tool, f.kernel, "1")
	cmd.Env = append(os.Environ(), "ACCEL="+f.accel, "QEMU_ARGS="+f.qemuArgs)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %s", f.tool, err, out)
	}
	pid1, _, err := ParseFloor(string(out))
	if err == nil && math.IsNaN(pid1) {
		err = fmt.Errorf("%s: no time to PID 1 in %q", f.tool, out)
	}
	return pid1, err
}
