package qemutest

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// The opening almost every boot test shares: boot, watch the console,
// power off. Each test keeps only what it checks.

// bootGuest starts QEMU on q (1 GiB of memory unless q says otherwise)
// with extra QEMU arguments. The returned context ends after timeout,
// bounding everything the test does with the guest; QEMU is killed and the
// context cancelled when the test ends.
func bootGuest(t testing.TB, timeout time.Duration, q run.QEMU, extra ...string) (context.Context, *Console) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	if q.Mem == 0 {
		q.Mem = 1024
	}
	c, err := BootWith(ctx, &q, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Kill)
	return ctx, c
}

// bootSteps boots q, follows steps on the console and waits for QEMU's
// clean exit (expectSteps).
func bootSteps(t *testing.T, timeout time.Duration, q run.QEMU, steps ...step) *Console {
	t.Helper()
	ctx, c := bootGuest(t, timeout, q)
	expectSteps(ctx, t, c, steps)
	return c
}

// mustExpect waits for a console line matching re, from line from on, and
// returns its index and when it was printed; without one the test fails
// with the console's last lines.
func mustExpect(ctx context.Context, t testing.TB, c *Console, from int, re string) (int, time.Duration) {
	t.Helper()
	i, at, err := c.Expect(ctx, from, regexp.MustCompile(re))
	if err != nil {
		t.Fatalf("%v\nlast console lines:\n%s", err, c.Tail(80))
	}
	return i, at
}

// waitExit checks that QEMU exits with status 0: the guest powered off.
func waitExit(ctx context.Context, t testing.TB, c *Console) {
	t.Helper()
	if err := c.Wait(ctx); err != nil {
		t.Errorf("qemu did not exit cleanly: %v\nlast console lines:\n%s", err, c.Tail(40))
	}
}

// bootSpecs checks the test can boot (require), builds specs like
// buildImage and boots the result as bootGuest does; q's Prefix is filled
// in.
func bootSpecs(t *testing.T, timeout time.Duration, q run.QEMU, specs ...string) (context.Context, *Console) {
	t.Helper()
	require(t)
	q.Prefix = buildImage(t, specs...)
	return bootGuest(t, timeout, q)
}

// expectMatch waits for a console line matching re (from the first line),
// logs when it came as what, and returns re's submatches in it; without
// one the test fails, naming what.
func expectMatch(ctx context.Context, t testing.TB, c *Console, what, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	i, at, err := c.Expect(ctx, 0, rx)
	if err != nil {
		t.Fatalf("%s: %v\nlast console lines:\n%s", what, err, c.Tail(80))
	}
	t.Logf("%6.2fs  %s", at.Seconds(), what)
	return rx.FindStringSubmatch(c.Lines(i, i+1)[0])
}

// reportLines returns the console lines up to line end (included) that
// hold marker, each cut to start at it: what an in-guest checker reported,
// without the service-name prefix svcd adds.
func reportLines(c *Console, end int, marker string) []string {
	var out []string
	for _, l := range c.Lines(0, end+1) {
		if i := strings.Index(l, marker); i >= 0 {
			out = append(out, l[i:])
		}
	}
	return out
}
