package qemutest

import (
	"regexp"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// surfaceDMI makes QEMU's machine say it is a Microsoft Surface: its DMI
// modalias then matches surface_gpe, a module of Debian's cloud kernel that
// the default set leaves out.
var surfaceDMI = []string{"-smbios", "type=1,manufacturer=Microsoft Corporation,product=Surface Pro"}

// TestLeftOutModuleReported boots a machine with a device only a left-out
// module drives: init must say which module and how to add it, and boot
// goes on; with the module added under kernel: modules: the line is gone.
func TestLeftOutModuleReported(t *testing.T) {
	require(t)
	missing := regexp.MustCompile(`init: modules: module surface_gpe \(for dmi:.*svnMicrosoftCorporation.*\) is not in this image: .*kernel: modules: \[surface_gpe\]`)

	t.Run("default set", func(t *testing.T) {
		ctx, c := bootSpecs(t, 5*time.Minute, run.QEMU{Extra: surfaceDMI}, "examples/minimal.yml", "qemu-test/testdata/check.yml")
		expectSteps(ctx, t, c, []step{
			{"init named the missing module", missing},
			{"check passed", regexp.MustCompile(`KEEL-CHECK-OK`)},
			{"svcd shut down", regexp.MustCompile(`svcd: shutdown complete`)},
		})
	})

	t.Run("module added", func(t *testing.T) {
		ctx, c := bootSpecs(t, 5*time.Minute, run.QEMU{Extra: surfaceDMI, ExtraCmdline: "keel.debug"}, "examples/minimal.yml", "qemu-test/testdata/check.yml", "qemu-test/testdata/modules-surface.yml")
		expectSteps(ctx, t, c, []step{
			// Loaded, or tried and found nothing to drive (no Surface
			// ACPI device): either way the image had it.
			{"init tried surface_gpe", regexp.MustCompile(`init: modules (loaded|that found no device): .*surface_gpe`)},
			{"check passed", regexp.MustCompile(`KEEL-CHECK-OK`)},
			{"svcd shut down", regexp.MustCompile(`svcd: shutdown complete`)},
		})
		noMissingDrivers(ctx, t, c)
	})
}
