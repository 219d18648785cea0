package qemutest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// TestChaos boots the minimal example with qemu-test/chaos, which kills -9
// a service, its shim, containerd and svcd in turn, $KEEL_CHAOS_ROUNDS
// times each (default 1; `make soak` runs 50), and checks after every kill
// that the system recovered with no zombie left and PID 1 alive.
func TestChaos(t *testing.T) {
	require(t)
	rounds := 1
	if v := os.Getenv("KEEL_CHAOS_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("KEEL_CHAOS_ROUNDS=%q: want a positive number", v)
		}
		rounds = n
	}
	prefix := buildImage(t, "examples/minimal.yml", "qemu-test/testdata/chaos.yml")
	// Under TCG a round (four kills and recoveries) takes well under a
	// minute; the budget leaves room for a loaded machine.
	ctx, c := bootGuest(t, 4*time.Minute+time.Duration(rounds)*90*time.Second, run.QEMU{Prefix: prefix, ExtraCmdline: fmt.Sprintf("keel.chaos=%d", rounds)})
	end, _ := mustExpect(ctx, t, c, 0, `CHAOS-END`)
	oks := 0
	for _, line := range reportLines(c, end, "CHAOS") {
		switch {
		case strings.HasPrefix(line, "CHAOS FAIL"):
			t.Error(line)
		case strings.HasPrefix(line, "CHAOS ok"):
			oks++
		case strings.HasPrefix(line, "CHAOS-SUMMARY"):
			t.Log(line)
		}
	}
	if want := 4 * rounds; oks != want {
		t.Errorf("%d kills recovered, want %d", oks, want)
	}
	if t.Failed() {
		t.Logf("console:\n%s", c.Tail(150))
	}
	if err := c.Wait(ctx); err != nil {
		t.Errorf("qemu did not exit cleanly after the chaos: %v\n%s", err, c.Tail(40))
	}
}
