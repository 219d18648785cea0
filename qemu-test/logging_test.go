package qemutest

import (
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
	ctx, c := bootSpecs(t, 5*time.Minute, run.QEMU{}, "examples/logging.yml", "qemu-test/testdata/logging-check.yml")
	end, _ := mustExpect(ctx, t, c, 0, `LOGCHECK-END`)
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
	waitExit(ctx, t, c)
}
