package qemutest

import (
	"regexp"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// TestPoweroffPackage boots examples/minimal.yml with pkgs/poweroff as a
// service, written as in LinuxKit's specs: the service must bring the
// machine down cleanly by itself, with nothing else asking.
func TestPoweroffPackage(t *testing.T) {
	ctx, c := bootSpecs(t, 5*time.Minute, run.QEMU{}, "examples/minimal.yml", "qemu-test/testdata/poweroff.yml")

	expectSteps(ctx, t, c, []step{
		{"the poweroff service started", regexp.MustCompile(`poweroff: powering off in 3s`)},
		{"init shut down for power-off", regexp.MustCompile(`init: shutdown \(power off\)`)},
		{"svcd shut down", regexp.MustCompile(`svcd: shutdown complete`)},
	})
}
