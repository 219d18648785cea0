package qemutest

import (
	"context"
	"fmt"
	"os"
	"regexp"
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
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute+time.Duration(rounds)*90*time.Second)
	defer cancel()
	c, err := Boot(ctx, &run.QEMU{Prefix: prefix, Mem: 1024, ExtraCmdline: fmt.Sprintf("keel.chaos=%d", rounds)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	end, _, err := c.Expect(ctx, 0, regexp.MustCompile(`CHAOS-END`))
	if err != nil {
		t.Fatalf("%v\nlast console lines:\n%s", err, c.Tail(80))
	}
	oks := 0
	for _, l := range c.Lines(0, end+1) {
		i := strings.Index(l, "CHAOS")
		if i < 0 {
			continue
		}
		switch line := l[i:]; {
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
