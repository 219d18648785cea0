package qemutest

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/build"
	"github.com/keel-os/keel/packer/run"
)

// TestVolumes boots examples/minimal.yml with testdata/volumes-check.yml:
// one boot for every shape of LinuxKit's volumes (blank and from an image,
// read-write and read-only, as a filesystem or an OCI layout, named from
// binds, mounts, onboot, services and onshutdown).
func TestVolumes(t *testing.T) {
	require(t)
	checkVolumes(t, build.Options{})
}

// TestVolumesInitrdRoot is TestVolumes on a root unpacked from the initrd
// (--rootfs initrd); TestVolumes has the default squashfs root, where the
// root is itself an overlay: read-write volumes live in its tmpfs upper
// layer, and a read-only volume's overlay stacks on it.
func TestVolumesInitrdRoot(t *testing.T) {
	require(t)
	checkVolumes(t, build.Options{Rootfs: build.RootfsInitrd})
}

func checkVolumes(t *testing.T, opt build.Options) {
	_, prefix := buildWith(t, opt, "examples/minimal.yml", "qemu-test/testdata/volumes-check.yml")

	ctx, c := bootGuest(t, 6*time.Minute, run.QEMU{Prefix: prefix})

	_, at, err := c.Expect(ctx, 0, regexp.MustCompile(`VOLCHECK-END`))
	if err != nil {
		t.Fatalf("the volcheck service did not finish: %v\nlast console lines:\n%s", err, c.Tail(60))
	}
	t.Logf("%6.2fs  volcheck finished", at.Seconds())
	got := volChecks(c.Lines(0, -1))
	for _, w := range []struct{ key, want, what string }{
		{"scratch", "from-onboot", "a service reads what an onboot container wrote into a blank volume"},
		{"scratch-write", "ok", "the service writes into the read-write volume"},
		{"bind-image", "ok", "an image volume's files show through a bind"},
		{"mount-image", "ok", "an image volume's files show through a mount"},
		{"ro-bind", "refused", "a read-only bind of a read-only volume refuses writes"},
		{"ro-volume", "refused", "a read-only volume stays read-only bound read-write by its path"},
		{"rw-image", "ok", "a read-write image volume takes writes"},
		{"oci-layout", "ok", "a format: oci volume holds the image as an OCI layout"},
	} {
		if got[w.key] != w.want {
			t.Errorf("%s: got VOLCHECK %s=%q, want %q", w.what, w.key, got[w.key], w.want)
		}
	}
	expectSteps(ctx, t, c, []step{
		{"an onshutdown container reads the volume", regexp.MustCompile(`VOLCHECK shutdown=from-onboot`)},
	})
	if t.Failed() {
		t.Logf("console:\n%s", c.Tail(80))
	}
}

// volChecks reads the "VOLCHECK key=value" lines of the console.
func volChecks(lines []string) map[string]string {
	out := map[string]string{}
	for _, l := range lines {
		_, rest, ok := strings.Cut(l, "VOLCHECK ")
		if !ok {
			continue
		}
		if k, v, ok := strings.Cut(strings.TrimSpace(rest), "="); ok {
			out[k] = v
		}
	}
	return out
}
