package boot

import (
	"slices"
	"testing"

	"github.com/keel-os/keel/internal/initctl"
	"golang.org/x/sys/unix"
)

func TestMultiCallSignal(t *testing.T) {
	tests := []struct {
		argv0  string
		want   unix.Signal
		wantOK bool
	}{
		{"/sbin/poweroff", unix.SIGTERM, true},
		{"reboot", unix.SIGINT, true},
		{"/sbin/halt", unix.SIGUSR1, true},
		{"/init", 0, false},
		{"init", 0, false},
	}
	for _, tt := range tests {
		got, ok := MultiCallSignal([]string{tt.argv0})
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("MultiCallSignal(%q): got %v, %v, want %v, %v", tt.argv0, got, ok, tt.want, tt.wantOK)
		}
	}
	if _, ok := MultiCallSignal(nil); ok {
		t.Error("MultiCallSignal(no argv): got a command, want none")
	}
}

// TestCommandsMatchActions keeps the /sbin commands and PID 1's signal
// handling in step: each command's signal must lead to its own action.
func TestCommandsMatchActions(t *testing.T) {
	want := map[string]action{"poweroff": actionPoweroff, "reboot": actionReboot, "halt": actionHalt}
	for name, sig := range commands {
		got, ok := actionFor(sig)
		if !ok || got != want[name] {
			t.Errorf("%s sends %v, which PID 1 turns into %v (ok %v), want %v", name, sig, got, ok, want[name])
		}
	}
	if !slices.Contains(initctl.RebootSignals, unix.SIGINT) {
		t.Error("SIGINT (ctrl-alt-del) is not a reboot signal")
	}
}
