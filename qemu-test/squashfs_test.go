package qemutest

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/build"
	"github.com/keel-os/keel/packer/run"
)

// TestSquashfsRootBoots boots examples/minimal.yml with the check service
// built with `--rootfs squashfs`: the initramfs holds only /init, three
// modules and the image, so every container that runs was read from the
// image through init's overlay root.
func TestSquashfsRootBoots(t *testing.T) {
	require(t)
	_, prefix := buildWith(t, build.Options{Rootfs: build.RootfsSquashfs}, "examples/minimal.yml", "qemu-test/testdata/check.yml")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := Boot(ctx, &run.QEMU{Prefix: prefix, Mem: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	expectSteps(ctx, t, c, []step{
		{"init mounted the image under an overlay", regexp.MustCompile(`init: root: /keel-root\.squashfs read-only on /dev/loop\d+, under a tmpfs overlay`)},
		{"init started svcd", regexp.MustCompile(`init: .*svcd.*started`)},
		{"onboot sysctl exited 0", regexp.MustCompile(`svcd: onboot sysctl exited 0`)},
		{"containerd ready", regexp.MustCompile(`svcd: containerd ready`)},
		{"check passed", regexp.MustCompile(`KEEL-CHECK-OK`)},
		{"svcd shut down", regexp.MustCompile(`svcd: shutdown complete`)},
	})
	if _, _, err := c.Expect(ctx, 0, regexp.MustCompile(`ESSENTIAL STEP`)); err == nil {
		t.Errorf("an essential boot step failed:\n%s", c.Tail(80))
	}
}
