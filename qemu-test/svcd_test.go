package qemutest

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// TestSvcdSupervision boots examples/minimal.yml plus svcd-check.yml: a
// service that crashes once must be restarted and stay up, a service that
// depends on one with a healthcheck must start only once that one is
// healthy, and the in-guest checker (running the system's svcctl) prints
// `svcctl list` and `svcctl boot`, checks exit codes and dmesg, and powers
// the machine off.
func TestSvcdSupervision(t *testing.T) {
	require(t)
	prefix := buildImage(t, "examples/minimal.yml", "qemu-test/testdata/svcd-check.yml")
	checkSupervision(t, &run.QEMU{Prefix: prefix, Mem: 1024}, 8*time.Minute)
}

// checkSupervision boots minimal.yml plus svcd-check.yml built at q and
// follows the supervision checks to a clean power-off.
func checkSupervision(t *testing.T, q *run.QEMU, timeout time.Duration) {
	t.Helper()
	ctx, c := bootGuest(t, timeout, *q)
	expect := func(what, re string) []string {
		t.Helper()
		return expectMatch(ctx, t, c, what, re)
	}
	expect("flaky crashed", `flaky: flaky crashing once`)
	expect("flaky restarted by svcd", `svcd: service flaky exited 1, restarting in`)
	expect("flaky up after its restart", `flaky: flaky up for good`)
	expect("db ready", `db: db ready`)
	expect("db healthy", `svcd: service db healthy`)
	expect("app started", `app: app up`)
	expect("checker done", `KEEL-SVCDCHECK-DONE`)

	block := func(name string) []string {
		b, _, _ := c.Expect(ctx, 0, regexp.MustCompile(`KEEL-SVCDCHECK-`+name+`-BEGIN`))
		e, _, _ := c.Expect(ctx, b, regexp.MustCompile(`KEEL-SVCDCHECK-`+name+`-END`))
		var out []string
		for _, l := range c.Lines(b+1, e) {
			out = append(out, stripPrefix(l))
		}
		return out
	}
	list := block("LIST")
	t.Logf("svcctl list in the guest:\n%s", strings.Join(list, "\n"))
	if len(list) == 0 || !strings.HasPrefix(list[0], "NAME") {
		t.Fatalf("svcctl list: got %q, want a table", list)
	}
	header := strings.Fields(list[0])
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, h := range []string{"STATE", "HEALTH", "UPTIME", "RESTARTS", "IMAGE"} {
		if _, ok := col[h]; !ok {
			t.Errorf("svcctl list: no %s column in %q", h, list[0])
		}
	}
	rows := map[string][]string{}
	for _, l := range list[1:] {
		if f := strings.Fields(l); len(f) == len(header) {
			rows[f[0]] = f
		}
	}
	for _, w := range []struct{ name, col, want string }{
		{"flaky", "STATE", "running"}, {"flaky", "RESTARTS", "1"},
		{"db", "HEALTH", "healthy"}, {"db", "RESTARTS", "0"}, {"app", "STATE", "running"},
		{"hello", "STATE", "running"}, {"sysctl", "STATE", "exited"},
	} {
		r, ok := rows[w.name]
		if !ok {
			t.Errorf("svcctl list: no row for %s", w.name)
			continue
		}
		if got := r[col[w.col]]; got != w.want {
			t.Errorf("svcctl list: %s %s: got %s, want %s", w.name, w.col, got, w.want)
		}
	}
	t.Logf("svcctl boot in the guest:\n%s", strings.Join(block("BOOT"), "\n"))

	if m := expect("start order", `KEEL-SVCDCHECK-ORDER db-healthy=(-?\d+) app-started=(-?\d+) ok=(\w+)`); m[3] != "true" {
		t.Errorf("app started at %s ns, db healthy at %s ns: want app after db healthy", m[2], m[1])
	}
	if m := expect("exit codes", `KEEL-SVCDCHECK-EXITCODES status-running=(-?\d+) status-unknown=(-?\d+)`); m[1] != "0" || m[2] != "3" {
		t.Errorf("svcctl status exit codes: got running=%s unknown=%s, want 0 and 3", m[1], m[2])
	}
	// The kernel's first line: "Linux version ..." on x86, "Booting Linux
	// on physical CPU ..." on arm64.
	if m := expect("dmesg", `KEEL-SVCDCHECK-DMESG exit=(\d+) err=(\S+) lines=(\d+) first="(.*)"`); m[1] != "0" || !strings.Contains(m[4], "Linux") {
		t.Errorf("svcctl dmesg: got exit %s, first line %q; want 0 and the kernel's first line", m[1], m[4])
	}
	if _, _, err := c.Expect(ctx, 0, regexp.MustCompile(`KEEL-SVCDCHECK-FAIL`)); err == nil {
		t.Errorf("the checker reported a failure:\n%s", c.Tail(80))
	}
	expect("svcd shut down", `svcd: shutdown complete`)
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("qemu did not exit cleanly after power-off: %v\nlast console lines:\n%s", err, c.Tail(40))
	}
	t.Logf("%6.2fs  qemu exited 0", c.Elapsed().Seconds())
}
