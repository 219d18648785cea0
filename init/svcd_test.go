package main

import (
	"bytes"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestActionFor(t *testing.T) {
	tests := []struct {
		sig    unix.Signal
		want   action
		wantOK bool
	}{
		{unix.SIGTERM, actionPoweroff, true},
		{unix.SIGPWR, actionPoweroff, true},
		{unix.SIGUSR2, actionPoweroff, true},
		{unix.SIGINT, actionReboot, true},
		{unix.SIGUSR1, actionHalt, true},
		{unix.SIGHUP, 0, false},
	}
	for _, tt := range tests {
		got, ok := actionFor(tt.sig)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("actionFor(%v): got %v, %v, want %v, %v", tt.sig, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestDescribeExit(t *testing.T) {
	tests := []struct {
		ws   unix.WaitStatus
		want string
	}{
		{unix.WaitStatus(3 << 8), "exit status 3"},
		{unix.WaitStatus(0), "exit status 0"},
		{unix.WaitStatus(9), "killed by SIGKILL"},
		{unix.WaitStatus(11 | 0x80), "killed by SIGSEGV (core dumped)"},
	}
	for _, tt := range tests {
		if got := describeExit(tt.ws); got != tt.want {
			t.Errorf("describeExit(%#x): got %q, want %q", int(tt.ws), got, tt.want)
		}
	}
}

func TestSupervisorMissingSvcd(t *testing.T) {
	log = &logger{console: &bytes.Buffer{}}
	s := newSupervisor(filepath.Join(t.TempDir(), "svcd"), newReaper(wait4Any))
	go s.run()
	if err := s.waitStarted(); err != nil {
		t.Errorf("waitStarted: got %v, want nil (a missing svcd is a shell-only system)", err)
	}
	if !s.stop(unix.SIGTERM, time.Minute) {
		t.Error("stop: got false, want true: nothing was running")
	}
}

// TestSupervisorStop starts a real child that waits for SIGTERM and checks
// that stop delivers the signal and sees the exit through the reaper.
func TestSupervisorStop(t *testing.T) {
	var out bytes.Buffer
	log = &logger{console: &out}
	dir := t.TempDir()
	marker := filepath.Join(dir, "ready")
	script := filepath.Join(dir, "svcd")
	body := "#!/bin/sh\ntrap 'exit 0' TERM\ntouch " + marker + "\nwhile :; do sleep 0.05; done\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	r := newReaper(wait4Any)
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, unix.SIGCHLD)
	defer signal.Stop(sigchld)
	stopReaper := make(chan struct{})
	defer close(stopReaper)
	go func() {
		for {
			r.reap()
			select {
			case <-sigchld:
			case <-stopReaper:
				return
			}
		}
	}()

	s := newSupervisor(script, r)
	go s.run()
	if err := s.waitStarted(); err != nil {
		t.Fatal(err)
	}
	// Signal only once the trap is set, or sh would die of the default action.
	for {
		if _, err := os.Stat(marker); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !s.stop(unix.SIGTERM, time.Minute) {
		t.Fatalf("stop: svcd did not exit; log:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "svcd exited: exit status 0") {
		t.Errorf("log:\n%s\nwant \"svcd exited: exit status 0\"", out.String())
	}
}
