package build

import (
	"bytes"
	"strings"
	"testing"

	kbundle "github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/packer/bundle"
)

func TestConfinementWarnings(t *testing.T) {
	admin := bundle.Risk{What: "holds CAP_SYS_ADMIN", Setting: "capabilities: [CAP_SYS_ADMIN]", From: bundle.FromLabel}
	pid := bundle.Risk{What: "shares the host's pid namespace", Setting: "pid: host", From: bundle.FromLabel}
	net := bundle.Risk{What: "shares the host's network namespace", Setting: "net: host", From: bundle.FromSpec}
	for _, tc := range []struct {
		name   string
		risky  []riskyContainer
		strict bool
		want   string
		err    string
	}{
		{"nothing", nil, true, "", ""},
		{"one risk", []riskyContainer{{kbundle.PhaseOnboot, "sysctl", "keel/sysctl:1", []bundle.Risk{admin}}}, false,
			`warning: onboot "sysctl" (keel/sysctl:1): holds CAP_SYS_ADMIN (capabilities: [CAP_SYS_ADMIN]), set in the image's org.mobyproject.config label` + "\n", ""},
		{"one source", []riskyContainer{{kbundle.PhaseOnboot, "sysctl", "keel/sysctl:1", []bundle.Risk{admin, pid}}}, false,
			`warning: onboot "sysctl" (keel/sysctl:1): holds CAP_SYS_ADMIN (capabilities: [CAP_SYS_ADMIN]); shares the host's pid namespace (pid: host); all set in the image's org.mobyproject.config label` + "\n", ""},
		{"two sources", []riskyContainer{{kbundle.PhaseService, "x", "x:1", []bundle.Risk{admin, net}}}, false,
			`warning: service "x" (x:1): holds CAP_SYS_ADMIN (capabilities: [CAP_SYS_ADMIN] in the image's org.mobyproject.config label); shares the host's network namespace (net: host in the spec)` + "\n", ""},
		{"strict", []riskyContainer{{kbundle.PhaseService, "x", "x:1", []bundle.Risk{net}}, {kbundle.PhaseService, "y", "y:1", []bundle.Risk{pid}}}, true,
			"warning: service \"x\" (x:1): shares the host's network namespace (net: host), set in the spec\n" +
				"warning: service \"y\" (y:1): shares the host's pid namespace (pid: host), set in the image's org.mobyproject.config label\n",
			`--strict: 2 container(s) loosen the default confinement: service "x", service "y"; `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			opt := Options{Warn: &buf, Strict: tc.strict}
			err := opt.confinement(tc.risky)
			if got := buf.String(); got != tc.want {
				t.Errorf("got warnings\n%s\nwant\n%s", got, tc.want)
			}
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("got error %v, want one holding %q", err, tc.err)
			}
		})
	}
}
