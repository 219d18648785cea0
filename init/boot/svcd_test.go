package boot

import (
	"bytes"
	"fmt"
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
	klog = &logger{console: &bytes.Buffer{}}
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
	klog = &logger{console: &out}
	dir := t.TempDir()
	marker := filepath.Join(dir, "ready")
	script := filepath.Join(dir, "svcd")
	body := "#!/bin/sh\ntrap 'exit 0' TERM\ntouch " + marker + "\nwhile :; do sleep 0.05; done\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	s := newSupervisor(script, startTestReaper(t))
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

// startTestReaper reaps this test process's children until the test ends.
func startTestReaper(t *testing.T) *reaper {
	t.Helper()
	r := newReaper(wait4Any)
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, unix.SIGCHLD)
	stopReaper := make(chan struct{})
	t.Cleanup(func() {
		close(stopReaper)
		signal.Stop(sigchld)
	})
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
	return r
}

// waitFile waits up to a minute for path to exist.
func waitFile(t *testing.T, path string) bool {
	t.Helper()
	for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return true
		}
	}
	return false
}

// TestSupervisorDevicesPipe starts a real child as svcd and checks the
// device-scan contract: while the scan runs, svcd gets $KEEL_DEVICES_FD
// naming a pipe that reaches EOF only when the scan ends; a svcd started
// after the scan gets neither.
func TestSupervisorDevicesPipe(t *testing.T) {
	for _, scanDone := range []bool{false, true} {
		t.Run(fmt.Sprintf("scan done %v", scanDone), func(t *testing.T) {
			var out bytes.Buffer
			klog = &logger{console: &out}
			dir := t.TempDir()
			script := filepath.Join(dir, "svcd")
			// Reports what it got, then waits for EOF on the pipe.
			body := `#!/bin/sh
trap 'exit 0' TERM
echo "${KEEL_DEVICES_FD:-none}" > ` + dir + `/env.tmp && mv ` + dir + `/env.tmp ` + dir + `/env
if [ -n "$KEEL_DEVICES_FD" ]; then cat <&3 >/dev/null; fi
touch ` + dir + `/eof
while :; do sleep 0.05; done
`
			if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			devices := make(chan struct{})
			if scanDone {
				close(devices)
			}
			s := newSupervisor(script, startTestReaper(t))
			s.devices = devices
			go s.run()
			defer s.stop(unix.SIGTERM, time.Minute)
			if err := s.waitStarted(); err != nil {
				t.Fatal(err)
			}
			if !waitFile(t, filepath.Join(dir, "env")) {
				t.Fatalf("svcd never ran; log:\n%s", out.String())
			}
			env, _ := os.ReadFile(filepath.Join(dir, "env"))
			want := "3"
			if scanDone {
				want = "none"
			}
			if got := strings.TrimSpace(string(env)); got != want {
				t.Fatalf("KEEL_DEVICES_FD: got %q, want %q", got, want)
			}
			if !scanDone {
				time.Sleep(100 * time.Millisecond)
				if _, err := os.Stat(filepath.Join(dir, "eof")); err == nil {
					t.Fatal("the pipe reached EOF while the scan was still running")
				}
				close(devices)
			}
			if !waitFile(t, filepath.Join(dir, "eof")) {
				t.Fatal("no EOF on the pipe after the scan ended")
			}
		})
	}
}
