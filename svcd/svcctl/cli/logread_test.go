package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/svcd/api"
)

// logFake is an svcd with two containers whose lines interleave in time.
type logFake struct{ fake }

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func (logFake) Containers() []api.Container {
	return []api.Container{{Name: "dhcpcd", Phase: "onboot"}, {Name: "web", Phase: "service"}}
}

func (logFake) Logs(name string) ([]api.LogLine, bool) {
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	switch name {
	case "dhcpcd":
		return []api.LogLine{{Seq: 1, Time: at(1), Stream: "stdout", Text: "eth0: carrier"}, {Seq: 2, Time: at(3), Stream: "stdout", Text: "eth0: leased"}}, true
	case "web":
		return []api.LogLine{{Seq: 1, Time: at(2), Stream: "stderr", Text: "listening"}, {Seq: 2, Time: at(4), Stream: "stdout", Text: "GET /"}}, true
	}
	return nil, false
}

func TestLogread(t *testing.T) {
	sock := serve(t, logFake{})
	all := "" +
		"2026-12-06T12:00:01Z dhcpcd.stdout eth0: carrier\n" +
		"2026-12-06T12:00:02Z web.stderr listening\n" +
		"2026-12-06T12:00:03Z dhcpcd.stdout eth0: leased\n" +
		"2026-12-06T12:00:04Z web.stdout GET /\n"
	for _, tc := range []struct {
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{nil, 0, all, ""},
		{[]string{"-n", "2"}, 0, strings.Join(strings.SplitAfter(all, "\n")[2:], ""), ""},
		{[]string{"web"}, 0, "2026-12-06T12:00:02Z web.stderr listening\n2026-12-06T12:00:04Z web.stdout GET /\n", ""},
		{[]string{"nope"}, 3, "", `no container named "nope"`},
		{[]string{"-x"}, 2, "", "usage: logread"},
	} {
		var out, errb bytes.Buffer
		code := logread(append([]string{"-socket", sock}, tc.args...), &out, &errb)
		if code != tc.wantCode || out.String() != tc.wantOut || !strings.Contains(errb.String(), tc.wantErr) {
			t.Errorf("logread %v: got %d, stdout\n%s\nstderr %q; want %d, stdout\n%s\nstderr containing %q",
				tc.args, code, out.String(), errb.String(), tc.wantCode, tc.wantOut, tc.wantErr)
		}
	}
}
