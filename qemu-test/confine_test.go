package qemutest

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// TestDefaultConfinement boots the minimal example with a service that has
// only Keel's default confinement and checks, from inside it, that each
// escape it tries is refused (see qemu-test/confinecheck).
func TestDefaultConfinement(t *testing.T) {
	require(t)
	prefix := buildImage(t, "examples/minimal.yml", "qemu-test/testdata/confine-check.yml")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := Boot(ctx, &run.QEMU{Prefix: prefix, Mem: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	end, _, err := c.Expect(ctx, 0, regexp.MustCompile(`CONFINE-END`))
	if err != nil {
		t.Fatalf("%v\nlast console lines:\n%s", err, c.Tail(80))
	}
	var results []string
	for _, l := range c.Lines(0, end) {
		if i := strings.Index(l, "CONFINE "); i >= 0 {
			results = append(results, l[i:])
		}
	}
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
	for _, p := range []string{"module", "mount", "svcd-socket", "readonly-root", "proc-sys", "firmware-masked", "seccomp-keyctl", "status"} {
		if !ok[p] {
			t.Errorf("probe %s did not report ok", p)
		}
	}
	if err := c.Wait(ctx); err != nil {
		t.Errorf("qemu did not exit cleanly: %v\n%s", err, c.Tail(40))
	}
}
