package qemutest

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// TestPoweroffPackage boots examples/minimal.yml with pkgs/poweroff as a
// service, written as in LinuxKit's specs: the service must bring the
// machine down cleanly by itself, with nothing else asking.
func TestPoweroffPackage(t *testing.T) {
	require(t)
	prefix := buildImage(t, "examples/minimal.yml", "qemu-test/testdata/poweroff.yml")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := Boot(ctx, &run.QEMU{Prefix: prefix, Mem: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()

	line := 0
	for _, s := range []step{
		{"the poweroff service started", regexp.MustCompile(`poweroff: powering off in 3s`)},
		{"init shut down for power-off", regexp.MustCompile(`init: shutdown \(power off\)`)},
		{"svcd shut down", regexp.MustCompile(`svcd: shutdown complete`)},
	} {
		n, at, err := c.Expect(ctx, line, s.re)
		if err != nil {
			t.Fatalf("%s: %v\nlast console lines:\n%s", s.what, err, c.Tail(60))
		}
		t.Logf("%6.2fs  %s", at.Seconds(), s.what)
		line = n
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("qemu did not exit cleanly after power-off: %v\nlast console lines:\n%s", err, c.Tail(40))
	}
	t.Logf("%6.2fs  qemu exited 0", c.Elapsed().Seconds())
}
