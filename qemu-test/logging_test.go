package qemutest

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// TestLoggingToFiles boots examples/logging.yml, whose /etc/svcd.conf
// turns on svcd's log files, and checks from a service that a container's
// output lands in /var/log/NAME.log (and svcd's own in svcd.log), while the
// service itself stays off the console.
func TestLoggingToFiles(t *testing.T) {
	require(t)
	prefix := buildImage(t, "examples/logging.yml", "qemu-test/testdata/logging-check.yml")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := Boot(ctx, &run.QEMU{Prefix: prefix, Mem: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	end, _, err := c.Expect(ctx, 0, regexp.MustCompile(`LOGCHECK-END`))
	if err != nil {
		t.Fatalf("%v\nlast console lines:\n%s", err, c.Tail(60))
	}
	begin, _, _ := c.Expect(ctx, 0, regexp.MustCompile(`LOGCHECK-BEGIN`))
	report := strings.Join(c.Lines(begin, end+1), "\n")
	t.Logf("in the guest:\n%s", report)
	for _, w := range []string{`LOGCHECK file write-to-the-logs\.log`, `LOGCHECK file svcd\.log`, `LOGCHECK line .*hello `} {
		if !regexp.MustCompile(w).MatchString(report) {
			t.Errorf("want a line matching %q", w)
		}
	}
	if _, _, err := c.Expect(ctx, 0, regexp.MustCompile(`^write-to-the-logs: `)); err == nil {
		t.Error("the service's output was echoed to the console; it is not marked console: true")
	}
	if err := c.Wait(ctx); err != nil {
		t.Errorf("qemu did not exit cleanly: %v", err)
	}
}
