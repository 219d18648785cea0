package prepare

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-os/keel/internal/bundle"
)

func TestRunHookRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	k, err := bundle.Marshal(&bundle.Keel{Version: bundle.Version, Name: "x", Phase: bundle.PhaseOnboot})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, bundle.FileName), k, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		state string
		want  string // substring of the error; "" for none
	}{
		{"no bundle", nil, `{"pid": 5}`, "usage"},
		{"not json", []string{dir}, "pid 5", "container state"},
		{"no pid", []string{dir}, `{"ociVersion": "1.0.2"}`, "without a pid"},
		{"huge state", []string{dir}, `{"pid": 5, "x": "` + strings.Repeat("a", maxState) + `"}`, "over"},
		{"missing bundle", []string{filepath.Join(dir, "gone")}, `{"pid": 5}`, "keel.json"},
		{"no runtime section", []string{dir}, `{"pid": 5}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runHook(tt.args, strings.NewReader(tt.state))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
