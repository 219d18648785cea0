package spec

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const compatDir = "/work/shared/compat/linuxkit"

// compatFiles lists LinuxKit's own example specs, skipping the test when the
// shared test data is not on this machine.
func compatFiles(t testing.TB) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(compatDir, "examples", "*.yml"))
	if len(files) == 0 {
		t.Skipf("LinuxKit examples not found under %s", compatDir)
	}
	return append(files, filepath.Join(compatDir, "linuxkit.yml"))
}

func TestLinuxKitExamplesParse(t *testing.T) {
	for _, f := range compatFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			s, err := Parse(f, data)
			if filepath.Base(f) == "static-ip.yml" {
				// Broken as published: see the README beside the examples.
				if err == nil {
					t.Fatalf("got no error, want a YAML error at line 24")
				}
				want := f + ":24: "
				if !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("got error %q, want it to start with %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error:\n%v", err)
			}
			if s.Kernel.Image == "" {
				t.Errorf("got no kernel image, want one")
			}
			if err := s.Validate(); err != nil {
				t.Errorf("Validate after Parse: %v", err)
			}
		})
	}
}

func TestLinuxKitExamplesMerge(t *testing.T) {
	// LinuxKit users build e.g. `linuxkit build base.yml extra.yml`; merging
	// two unrelated examples must fail only on duplicate service names.
	files := compatFiles(t)
	var specs []*Spec
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if s, err := Parse(f, data); err == nil {
			specs = append(specs, s)
		}
	}
	m := Merge(specs...)
	err := m.Validate()
	if err == nil {
		t.Fatal("got no error merging every example, want duplicate service names")
	}
	list, ok := AsErrorList(err)
	if !ok {
		t.Fatalf("got %T, want ErrorList", err)
	}
	for _, e := range list {
		if e.more > 0 {
			continue // the "... and N more" summary of a long list
		}
		if !strings.Contains(e.Msg, "duplicate service name") {
			t.Errorf("unexpected error: %v", e)
		}
	}
}
