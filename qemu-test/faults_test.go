package qemutest

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// faultCases are the cases qemu-test/faultcheck runs, in its order.
var faultCases = []string{"onboot-fail", "onboot-hang", "crash-loop", "memory-limit", "var-full"}

// TestFaults boots examples/minimal.yml plus faults.yml once: an onboot
// container that fails and one that hangs past its timeout, a service in a
// crash loop, a service that allocates past its memory limit and one that
// fills /var. The in-guest checker (qemu-test/faultcheck) checks each
// outcome through the real svcctl and the kernel log, then that PID 1 is
// init, svcd was not restarted, no zombie lasts and svcctl's running rows
// are live processes; it prints a FAULTS line per case and powers off.
func TestFaults(t *testing.T) {
	// 1 GiB, so /var (a tmpfs of half the memory) is 512 MiB.
	ctx, c := bootSpecs(t, 8*time.Minute, run.QEMU{Mem: 1024}, "examples/minimal.yml", "qemu-test/testdata/faults.yml")
	end, at := mustExpect(ctx, t, c, 0, `FAULTS-END`)
	t.Logf("%6.2fs  checker done", at.Seconds())
	got := map[string]bool{}
	for _, line := range reportLines(c, end, "FAULTS ") {
		switch {
		case strings.HasPrefix(line, "FAULTS FAIL"):
			t.Error(line)
		case strings.HasPrefix(line, "FAULTS ok "):
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "FAULTS ok "), ":")
			got[name] = true
			t.Log(line)
		case strings.HasPrefix(line, "FAULTS info"):
			t.Log(line)
		}
	}
	for _, name := range faultCases {
		if !got[name] {
			t.Errorf("case %s: no FAULTS ok line", name)
			continue
		}
		// When each case was settled, for the time budget.
		if _, at, err := c.Expect(ctx, 0, regexp.MustCompile(`FAULTS ok `+name+`:`)); err == nil {
			t.Logf("%6.2fs  %s ok", at.Seconds(), name)
		}
	}
	// svcd's console marker names the OOM kill, not just the exit code.
	if _, _, err := c.Expect(ctx, 0, regexp.MustCompile(`svcd: service hog exited 137, oom-killed: .*restarting in`)); err != nil {
		t.Errorf("svcd's console line for hog's OOM kill: %v", err)
	}
	for _, l := range c.Lines(0, end+1) {
		if strings.Contains(l, "svcd exited") || strings.Contains(l, "restarting svcd") {
			t.Errorf("init had to restart svcd: %s", l)
		}
	}
	if t.Failed() {
		t.Logf("console:\n%s", c.Tail(150))
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("qemu did not exit cleanly after the checker: %v\n%s", err, c.Tail(40))
	}
	t.Logf("%6.2fs  qemu exited 0", c.Elapsed().Seconds())
}
