package bundle

import (
	"testing"

	kbundle "github.com/keel-os/keel/internal/bundle"
)

func TestKeelConsole(t *testing.T) {
	for _, tc := range []struct {
		section, yaml, label string
		phase                kbundle.Phase
		want                 bool
	}{
		{"onboot", "", "", kbundle.PhaseOnboot, true},
		{"onshutdown", "", "", kbundle.PhaseOnshutdown, true},
		{"services", "", "", kbundle.PhaseService, false},
		{"services", "console: true", "", kbundle.PhaseService, true},
		{"services", "", `{"console":true}`, kbundle.PhaseService, true},
		{"services", "console: false", `{"console":true}`, kbundle.PhaseService, false},
		{"onboot", "console: false", "", kbundle.PhaseOnboot, false},
	} {
		_, k, err := Config(entry(t, tc.section, tc.yaml), label(t, tc.label), baseCfg, tc.phase)
		if err != nil {
			t.Fatal(err)
		}
		if k.Console != tc.want {
			t.Errorf("%s %q label %q: console = %v, want %v", tc.section, tc.yaml, tc.label, k.Console, tc.want)
		}
	}
}
