package qemutest

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// TestDefaultConfinement boots the minimal example with services that have
// only Keel's default confinement (one with a read-only root, one holding
// CAP_SYS_ADMIN, one with the host's / bound read-only) and checks, from
// inside each, that every escape it tries is refused (see
// qemu-test/confinecheck).
func TestDefaultConfinement(t *testing.T) {
	ctx, c := bootSpecs(t, 5*time.Minute, run.QEMU{}, "examples/minimal.yml", "qemu-test/testdata/confine-check.yml")
	end := 0
	for _, mode := range []string{"default", "sysadmin", "host-bind"} {
		n, _, err := c.Expect(ctx, 0, regexp.MustCompile(`CONFINE-END `+mode))
		if err != nil {
			t.Fatalf("%v\nlast console lines:\n%s", err, c.Tail(80))
		}
		end = max(end, n)
	}
	results := reportLines(c, end-1, "CONFINE ")
	t.Logf("probes:\n%s", strings.Join(results, "\n"))
	ok := map[string]bool{}
	for _, r := range results {
		f := strings.Fields(r)
		if len(f) >= 3 && f[1] == "ok" {
			ok[f[2]] = true
		} else {
			t.Errorf("%s", r)
		}
	}
	for _, p := range []string{
		"default/module", "default/mount", "default/svcd-socket", "default/readonly-root", "default/proc-sys",
		"default/sysfs", "default/firmware-masked", "default/seccomp-keyctl", "default/status",
		"sysadmin/sysfs", "sysadmin/proc-sys", "sysadmin/kcore-masked", "sysadmin/keys-masked",
		"sysadmin/timer-list-masked", "sysadmin/firmware-masked",
		"host-bind/sysfs", "host-bind/top", "host-bind/run-below", "host-bind/proc-sys-below",
		"host-bind/svcd-socket-below", "host-bind/containerd-socket-below", "host-bind/status",
	} {
		if !ok[p] {
			t.Errorf("probe %s did not report ok", p)
		}
	}
	if err := c.Wait(ctx); err != nil {
		t.Errorf("qemu did not exit cleanly: %v\n%s", err, c.Tail(40))
	}
}
