package supervisor

import (
	"context"
	"errors"
	"testing"

	"github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/svcd/runner"
)

// execRunner is a service runner that can exec, as the containerd runner
// can: it answers every command with code.
type execRunner struct {
	fakeService
	code int
	args []string
}

func (e *execRunner) Exec(_ context.Context, args []string) (int, error) {
	e.args = args
	return e.code, nil
}

// TestExecProbe: the exec health check runs its command through the
// service's runner, and fails with a reason when that runner cannot exec.
func TestExecProbe(t *testing.T) {
	hc := &bundle.Healthcheck{Exec: []string{"true"}}
	tests := []struct {
		name    string
		base    runner.Runner
		wantErr error
	}{
		{"runner that execs, exit 0", &execRunner{}, nil},
		{"runner that execs, exit 1", &execRunner{code: 1}, errors.New("exited 1")},
		{"runner that cannot exec", &fakeService{}, errNoExec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := probe(hc, tc.base).Probe(context.Background(), 1)
			switch {
			case tc.wantErr == nil && err != nil:
				t.Fatalf("got %v, want healthy", err)
			case tc.wantErr == errNoExec && !errors.Is(err, errNoExec):
				t.Fatalf("got %v, want %v", err, errNoExec)
			case tc.wantErr != nil && err == nil:
				t.Fatalf("got healthy, want %v", tc.wantErr)
			}
			if e, ok := tc.base.(*execRunner); ok && (len(e.args) != 1 || e.args[0] != "true") {
				t.Errorf("command run: got %q, want [true]", e.args)
			}
		})
	}
}
