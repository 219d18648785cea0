package spec

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseKernelModules(t *testing.T) {
	tests := []struct {
		name, yaml string
		wantAll    bool
		wantNames  []string
		wantLines  []int
	}{
		{"absent", "kernel: {image: k}\n", false, nil, nil},
		{"all", "kernel:\n  image: k\n  modules: all\n", true, nil, nil},
		{"list", "kernel:\n  image: k\n  modules:\n    - nvme\n    - \"mlx5_*\"\n", false, []string{"nvme", "mlx5_*"}, []int{4, 5}},
		{"empty list", "kernel:\n  image: k\n  modules: []\n", false, []string{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("s.yml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			m := s.Kernel.Modules
			if tt.wantNames == nil && !tt.wantAll {
				if m != nil {
					t.Fatalf("got modules %+v, want none", m)
				}
				return
			}
			if m.All != tt.wantAll || !reflect.DeepEqual(m.Names, tt.wantNames) {
				t.Fatalf("got all=%v names=%q, want all=%v names=%q", m.All, m.Names, tt.wantAll, tt.wantNames)
			}
			for i, line := range tt.wantLines {
				if m.NamePos[i].Line != line || m.NamePos[i].File != "s.yml" {
					t.Errorf("name %d at %s, want s.yml line %d", i, m.NamePos[i], line)
				}
			}
			// The spec renders and reads back the same.
			out, err := s.YAML()
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse("back.yml", out)
			if err != nil {
				t.Fatalf("reading back %s: %v", out, err)
			}
			if back.Kernel.Modules.All != m.All || !reflect.DeepEqual(back.Kernel.Modules.Names, m.Names) {
				t.Errorf("round trip of %s: got %+v, want %+v", out, back.Kernel.Modules, m)
			}
		})
	}
}

func TestParseKernelModulesErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"kernel:\n  modules: some\n", `s.yml:2:12: kernel.modules: expected "all" or a list of module names, got a string ("some")`},
		{"kernel:\n  modules: {a: b}\n", `s.yml:2:12: kernel.modules: expected "all" or a list`},
		{"kernel:\n  modules: [nvme, all]\n", `s.yml:2:19: kernel.modules[1]: "all" must stand alone`},
		{"kernel:\n  modules: [kernel/fs/xfs.ko]\n", `s.yml:2:13: kernel.modules[0]: "kernel/fs/xfs.ko" is not a module name`},
		{"kernel:\n  modules: [[a]]\n", `s.yml:2:13: kernel.modules[0]: expected a module name or glob, got a list`},
		{"kernel:\n  modules: [3]\n", `kernel.modules[0]: expected a module name or glob, got a number (3)`},
	}
	for _, tt := range tests {
		_, err := Parse("s.yml", []byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q): got error %v, want one containing %q", tt.yaml, err, tt.want)
		}
	}
}

func TestMergeKernelModules(t *testing.T) {
	parse := func(y string) *Spec {
		s, err := Parse("s.yml", []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := parse("kernel:\n  modules: [nvme]\n")
	b := parse("kernel:\n  image: k\n")
	c := parse("kernel:\n  modules: [xfs]\n")
	got := Merge(a, b, c).Kernel.Modules
	if got.All || !reflect.DeepEqual(got.Names, []string{"nvme", "xfs"}) || len(got.NamePos) != 2 {
		t.Errorf("merged lists: got %+v, want names [nvme xfs]", got)
	}
	if got := Merge(a, parse("kernel:\n  modules: all\n")).Kernel.Modules; !got.All {
		t.Errorf("merge with all: got %+v, want all", got)
	}
	if got := Merge(b).Kernel.Modules; got != nil {
		t.Errorf("merge without modules: got %+v, want nil", got)
	}
}
