package qemutest

import (
	"regexp"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/build"
	"github.com/keel-os/keel/packer/run"
)

// TestInitrdRootBoots boots examples/minimal.yml with the check service
// built with `--rootfs initrd`: the whole system unpacked from the initrd
// into RAM, as before the squashfs root became the default (which
// TestMinimalBoots boots).
func TestInitrdRootBoots(t *testing.T) {
	require(t)
	_, prefix := buildWith(t, build.Options{Rootfs: build.RootfsInitrd}, "examples/minimal.yml", "qemu-test/testdata/check.yml")

	ctx, c := bootGuest(t, 5*time.Minute, run.QEMU{Prefix: prefix})
	expectSteps(ctx, t, c, []step{
		{"init started svcd", regexp.MustCompile(`init: .*svcd.*started`)},
		{"onboot sysctl exited 0", regexp.MustCompile(`svcd: onboot sysctl exited 0`)},
		{"containerd ready", regexp.MustCompile(`svcd: containerd ready`)},
		{"check passed", regexp.MustCompile(`KEEL-CHECK-OK`)},
		{"svcd shut down", regexp.MustCompile(`svcd: shutdown complete`)},
	})
	if _, _, err := c.Expect(ctx, 0, regexp.MustCompile(`init: root: .*squashfs`)); err == nil {
		t.Errorf("init mounted root images from an initrd built with --rootfs initrd:\n%s", c.Tail(80))
	}
	if _, _, err := c.Expect(ctx, 0, regexp.MustCompile(`ESSENTIAL STEP`)); err == nil {
		t.Errorf("an essential boot step failed:\n%s", c.Tail(80))
	}
}
