package bootlog

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestWriteRead(t *testing.T) {
	p := filepath.Join(t.TempDir(), "run", "keel", "boot.json")
	want := &Log{Version: Version, Steps: []Step{{Name: "mounts", Stage: 2, StartNS: 10, DurationNS: 20}, {Name: "modules", Error: "boom", Essential: true}}}
	if err := Write(p, want); err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	es, err := os.ReadDir(filepath.Dir(p))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		t.Errorf("got %d files next to the boot log (a temporary file left behind?), want 1", len(es))
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name, content, want string
	}{
		{"bad json", "{", "parsing boot log"},
		{"other version", `{"version": 99, "steps": []}`, "version 99"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "boot.json")
			os.WriteFile(p, []byte(tt.content), 0o644)
			if _, err := Read(p); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing file: got no error, want one")
	}
}
