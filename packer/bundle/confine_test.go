package bundle

import (
	"reflect"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

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

func TestSeccompArches(t *testing.T) {
	for _, tc := range []struct {
		arch string
		want []specs.Arch
	}{
		{"amd64", []specs.Arch{specs.ArchX86_64, specs.ArchX86}},
		{"arm64", []specs.Arch{specs.ArchAARCH64, specs.ArchARM}},
		// Unknown: containerd's list for the packer's own architecture,
		// never with x32.
		{"", nil},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			s, _, err := Config(entry(t, "services", ""), nil, baseCfg, kbundle.PhaseService, WithArch(tc.arch))
			if err != nil {
				t.Fatal(err)
			}
			got := s.Linux.Seccomp.Architectures
			if slices.Contains(got, specs.ArchX32) {
				t.Errorf("architectures = %v, want no x32", got)
			}
			if tc.want != nil && !slices.Equal(got, tc.want) {
				t.Errorf("architectures = %v, want %v", got, tc.want)
			}
			if len(got) == 0 {
				t.Errorf("no architectures: the filter would hold only the kernel's native one")
			}
		})
	}
}

func TestRuntimeSocketMasks(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, label string
		want              []string
	}{
		{"no binds", "", "", nil},
		{"bind of / (node_exporter)", "binds: [\"/:/host/root:ro,rslave,rbind\"]", "",
			[]string{"/host/root/run/containerd", "/host/root/run/svcd"}},
		{"bind of /var (its run is a symlink)", "binds: [\"/var:/var\"]", "", nil},
		{"bind of /run in the label", "", `{"binds":["/run:/run"]}`, []string{"/run/containerd", "/run/svcd"}},
		{"bind of /var/run/", "binds: [\"/var/run/:/r\"]", "", []string{"/r/containerd", "/r/svcd"}},
		{"mounts entry", "mounts:\n  - {type: bind, source: /run, destination: /x, options: [rbind, ro]}", "", []string{"/x/containerd", "/x/svcd"}},
		{"/run and svcd's directory by name", "binds: [\"/run:/run\", \"/run/svcd:/run/svcd\"]", "", []string{"/run/containerd"}},
		{"the socket itself is asked for", "binds: [\"/run/containerd/containerd.sock:/c.sock\", \"/run/svcd:/svcd\"]", "", nil},
		{"unrelated binds", "binds: [\"/run/config:/run/config\", \"/var/log:/var/log\", \"/runx:/runx\"]", "", nil},
		{"privileged keeps them", "capabilities: [all]\nbinds: [\"/run:/run\"]", "", nil},
		{"an empty maskedPaths leaves them", "maskedPaths: []\nbinds: [\"/run:/run\"]", "", []string{"/run/containerd", "/run/svcd"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, err := Config(entry(t, "services", tc.yaml), label(t, tc.label), baseCfg, kbundle.PhaseService)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range s.Linux.MaskedPaths {
				if !slices.Contains(defaultMaskedPaths, p) {
					got = append(got, p)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("masked beyond the defaults: got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestMasksStayOffSharedBinds: with rootfsPropagation shared, a mask below
// a bind that is a peer of the host's mount would hide the host's path, so
// Keel's own masks and read-only paths stay off such binds; a slave or
// private bind keeps them.
func TestMasksStayOffSharedBinds(t *testing.T) {
	for _, tc := range []struct {
		name, yaml              string
		wantMasked, notMasked   []string
		wantReadonly, notReadon []string
	}{
		{"shared rootfs, /sys and /run bound shared", "capabilities: [CAP_SYS_ADMIN]\nrootfsPropagation: shared\nbinds: [\"/sys:/sys\", \"/run:/run\"]",
			[]string{"/proc/kcore"}, []string{"/sys/firmware", "/sys/devices/virtual/powercap", "/run/containerd", "/run/svcd"},
			[]string{"/proc/sys"}, nil},
		{"shared rootfs, /proc bound rshared", "rootfsPropagation: rshared\nbinds: [\"/proc:/proc:rshared,rbind\"]",
			[]string{"/sys/firmware"}, []string{"/proc/kcore"}, nil, []string{"/proc/sys"}},
		{"shared rootfs, slave binds keep the masks", "rootfsPropagation: shared\nbinds: [\"/sys:/sys:rslave\", \"/run:/run:rslave\"]",
			[]string{"/sys/firmware", "/run/containerd", "/run/svcd"}, nil, []string{"/proc/sys"}, nil},
		{"shared rootfs, ro bind of / is rprivate", "rootfsPropagation: shared\nbinds: [\"/:/host:ro\"]",
			[]string{"/sys/firmware", "/host/run/containerd"}, nil, nil, nil},
		{"default propagation keeps them", "binds: [\"/sys:/sys\", \"/run:/run\"]",
			[]string{"/sys/firmware", "/run/svcd"}, nil, []string{"/proc/sys"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, err := Config(entry(t, "services", tc.yaml), nil, baseCfg, kbundle.PhaseService)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.wantMasked {
				if !slices.Contains(s.Linux.MaskedPaths, p) {
					t.Errorf("maskedPaths %v: want %s", s.Linux.MaskedPaths, p)
				}
			}
			for _, p := range tc.notMasked {
				if slices.Contains(s.Linux.MaskedPaths, p) {
					t.Errorf("maskedPaths %v: got %s, want it left out", s.Linux.MaskedPaths, p)
				}
			}
			for _, p := range tc.wantReadonly {
				if !slices.Contains(s.Linux.ReadonlyPaths, p) {
					t.Errorf("readonlyPaths %v: want %s", s.Linux.ReadonlyPaths, p)
				}
			}
			for _, p := range tc.notReadon {
				if slices.Contains(s.Linux.ReadonlyPaths, p) {
					t.Errorf("readonlyPaths %v: got %s, want it left out", s.Linux.ReadonlyPaths, p)
				}
			}
		})
	}
}
