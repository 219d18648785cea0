package bundle

import (
	"reflect"
	"testing"

	kbundle "github.com/keel-os/keel/internal/bundle"
)

func TestConfinement(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, label string
		wantNNP           bool
		wantMasked        []string
		wantReadonly      []string
		wantSeccomp       bool
	}{
		{"plain service", "", "", true, defaultMaskedPaths, defaultReadonlyPaths, true},
		{"every capability is privileged", "capabilities: [all]", "", false, nil, nil, false},
		{"privileged but asks for seccomp", "capabilities: [all]\nseccomp: default", "", false, nil, nil, true},
		{"CAP_SYS_ADMIN alone keeps the masks (Docker's rule)", "capabilities: [CAP_SYS_ADMIN]", "", true, defaultMaskedPaths, defaultReadonlyPaths, true},
		{"CAP_SYS_ADMIN from the label keeps the masks", "", `{"capabilities":["CAP_SYS_ADMIN","CAP_NET_ADMIN"]}`, true, defaultMaskedPaths, defaultReadonlyPaths, true},
		{"CAP_SYS_ADMIN with an explicit empty list", "capabilities: [CAP_SYS_ADMIN]\nreadonlyPaths: []", "", true, defaultMaskedPaths, nil, true},
		{"every capability from the label is privileged", "", `{"capabilities":["all"]}`, false, nil, nil, false},
		{"unconfined", "seccomp: unconfined", "", true, defaultMaskedPaths, defaultReadonlyPaths, false},
		{"label says unconfined", "", `{"seccomp":"unconfined"}`, true, defaultMaskedPaths, defaultReadonlyPaths, false},
		{"YAML overrides label", "seccomp: default", `{"seccomp":"unconfined"}`, true, defaultMaskedPaths, defaultReadonlyPaths, true},
		{"no-new-privileges off", "noNewPrivileges: false", "", false, defaultMaskedPaths, defaultReadonlyPaths, true},
		{"empty lists clear the defaults", "maskedPaths: []\nreadonlyPaths: []", "", true, nil, nil, true},
		{"own lists replace the defaults", "maskedPaths: [/proc/x]\nreadonlyPaths: [/proc/y]", "", true, []string{"/proc/x"}, []string{"/proc/y"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, err := Config(entry(t, "services", tc.yaml), label(t, tc.label), baseCfg, kbundle.PhaseService)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Process.NoNewPrivileges; got != tc.wantNNP {
				t.Errorf("noNewPrivileges = %v, want %v", got, tc.wantNNP)
			}
			if got := s.Linux.MaskedPaths; !reflect.DeepEqual(got, tc.wantMasked) {
				t.Errorf("maskedPaths = %v, want %v", got, tc.wantMasked)
			}
			if got := s.Linux.ReadonlyPaths; !reflect.DeepEqual(got, tc.wantReadonly) {
				t.Errorf("readonlyPaths = %v, want %v", got, tc.wantReadonly)
			}
			if got := s.Linux.Seccomp != nil; got != tc.wantSeccomp {
				t.Errorf("seccomp profile present = %v, want %v", got, tc.wantSeccomp)
			}
		})
	}
}
