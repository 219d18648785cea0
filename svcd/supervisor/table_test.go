package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/svcd/api"
	"github.com/keel-os/keel/svcd/runner"
)

func TestTable(t *testing.T) {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	boom := errors.New("boom")
	oom := fmt.Errorf("%w: memory limit", runner.ErrOOMKilled)
	type step struct {
		event  *runner.Event
		finish *struct {
			code    int
			err     error
			stopped bool
		}
	}
	ev := func(e runner.Event) step { return step{event: &e} }
	fin := func(code int, err error, stopped bool) step {
		return step{finish: &struct {
			code    int
			err     error
			stopped bool
		}{code, err, stopped}}
	}
	tests := []struct {
		name         string
		steps        []step
		wantState    string
		wantPid      int
		wantExit     *int
		wantRestarts int
		wantErr      string
		wantStarted  bool
		wantOOM      bool
	}{
		{"pending", nil, "pending", 0, nil, 0, "", false, false},
		{"running", []step{ev(runner.Event{State: runner.StateRunning, Pid: 7})}, "running", 7, nil, 0, "", true, false},
		{"exited 0", []step{ev(runner.Event{State: runner.StateRunning, Pid: 7}), fin(0, nil, false)}, "exited", 0, ptr(0), 0, "", true, false},
		{"non-zero is failed", []step{ev(runner.Event{State: runner.StateRunning, Pid: 7}), fin(2, nil, false)}, "failed", 0, ptr(2), 0, "", true, false},
		{"error is failed", []step{fin(-1, boom, false)}, "failed", 0, nil, 0, "boom", false, false},
		{"stopped", []step{ev(runner.Event{State: runner.StateRunning, Pid: 7}), fin(143, nil, true)}, "stopped", 0, ptr(143), 0, "", true, false},
		{"stopped before start", []step{fin(-1, context.Canceled, true)}, "stopped", 0, nil, 0, "", false, false},
		{"restarting", []step{
			ev(runner.Event{State: runner.StateRunning, Pid: 7}),
			ev(runner.Event{State: runner.StateBackoff, ExitCode: 1, Restarts: 1, Err: boom}),
		}, "backoff", 0, ptr(1), 1, "boom", true, false},
		{"running again after restart", []step{
			ev(runner.Event{State: runner.StateRunning, Pid: 7}),
			ev(runner.Event{State: runner.StateBackoff, ExitCode: 1, Restarts: 1, Err: boom}),
			ev(runner.Event{State: runner.StateRunning, Pid: 9, Restarts: 1}),
		}, "running", 9, ptr(1), 1, "", true, false},
		{"OOM-killed, restarting", []step{
			ev(runner.Event{State: runner.StateRunning, Pid: 7}),
			ev(runner.Event{State: runner.StateBackoff, ExitCode: 137, Restarts: 1, Err: oom}),
		}, "backoff", 0, ptr(137), 1, oom.Error(), true, true},
		{"OOM-killed stays shown while the next run goes", []step{
			ev(runner.Event{State: runner.StateRunning, Pid: 7}),
			ev(runner.Event{State: runner.StateBackoff, ExitCode: 137, Restarts: 1, Err: oom}),
			ev(runner.Event{State: runner.StateRunning, Pid: 9, Restarts: 1}),
		}, "running", 9, ptr(137), 1, "", true, true},
		{"a later plain exit clears it", []step{
			ev(runner.Event{State: runner.StateRunning, Pid: 7}),
			ev(runner.Event{State: runner.StateBackoff, ExitCode: 137, Restarts: 1, Err: oom}),
			ev(runner.Event{State: runner.StateRunning, Pid: 9, Restarts: 1}),
			fin(1, nil, false),
		}, "failed", 0, ptr(1), 1, "", true, false},
		{"OOM-killed, given up", []step{
			ev(runner.Event{State: runner.StateRunning, Pid: 7}), fin(137, oom, false),
		}, "failed", 0, ptr(137), 0, oom.Error(), true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := NewTable()
			tb.Now = func() time.Time { return t0 }
			tb.Add("other", api.PhaseOnboot)
			tb.Add("svc", api.PhaseService)
			tb.Add("svc", api.PhaseOnboot) // a second Add must not reset the row
			for _, s := range tc.steps {
				if s.event != nil {
					tb.Apply("svc", *s.event)
				} else {
					tb.Finish("svc", s.finish.code, s.finish.err, s.finish.stopped)
				}
			}
			list := tb.List()
			if len(list) != 2 || list[0].Name != "other" || list[1].Name != "svc" {
				t.Fatalf("rows: got %+v, want other, svc", list)
			}
			got := list[1]
			if got.Phase != api.PhaseService || got.State != tc.wantState || got.Pid != tc.wantPid ||
				got.Restarts != tc.wantRestarts || got.Error != tc.wantErr {
				t.Errorf("got %+v, want phase service state %s pid %d restarts %d error %q",
					got, tc.wantState, tc.wantPid, tc.wantRestarts, tc.wantErr)
			}
			if (got.ExitCode == nil) != (tc.wantExit == nil) || (got.ExitCode != nil && *got.ExitCode != *tc.wantExit) {
				t.Errorf("exit code: got %v, want %v", deref(got.ExitCode), deref(tc.wantExit))
			}
			if got.OOMKilled != tc.wantOOM {
				t.Errorf("oomKilled: got %v, want %v", got.OOMKilled, tc.wantOOM)
			}
			// The event of an ended run says how it ended too.
			if h := tb.History(); len(h) > 0 && got.State != "running" {
				if e := h[len(h)-1]; e.OOMKilled != tc.wantOOM {
					t.Errorf("last event %+v: oomKilled got %v, want %v", e, e.OOMKilled, tc.wantOOM)
				}
			}
			if (got.StartedAt != nil) != tc.wantStarted {
				t.Errorf("startedAt: got %v, want set=%v", got.StartedAt, tc.wantStarted)
			}
		})
	}
}

func TestTableListIsACopy(t *testing.T) {
	tb := NewTable()
	tb.Add("a", api.PhaseService)
	tb.Finish("a", 1, nil, false)
	l := tb.List()
	*l[0].ExitCode = 99
	l[0].State = "mangled"
	if got, _ := tb.Get("a"); *got.ExitCode != 1 || got.State != "failed" {
		t.Errorf("got %+v exit %d, want failed exit 1", got, *got.ExitCode)
	}
}

func ptr(i int) *int { return &i }

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func writeBundle(t *testing.T, dir string, k *bundle.Keel) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if k == nil {
		return
	}
	b, err := bundle.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, bundle.FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDiscoverAndNames(t *testing.T) {
	root := t.TempDir()
	writeBundle(t, filepath.Join(root, "onboot", "010-sysctl"), &bundle.Keel{Phase: bundle.PhaseOnboot})
	writeBundle(t, filepath.Join(root, "onboot", "000-dhcpcd"), &bundle.Keel{Phase: bundle.PhaseOnboot})
	writeBundle(t, filepath.Join(root, "onboot", "020-broken"), nil)
	writeBundle(t, filepath.Join(root, "services", "dhcpcd"), &bundle.Keel{Phase: bundle.PhaseService})
	writeBundle(t, filepath.Join(root, "services", "web"), &bundle.Keel{Name: "nginx", Phase: bundle.PhaseService})
	os.WriteFile(filepath.Join(root, "services", "README"), nil, 0o644)

	s, err := New(Config{ContainersDir: root, Runners: &fakeRunners{}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range s.Containers() {
		got = append(got, c.Phase+":"+c.Name+":"+c.State)
	}
	want := []string{
		"onboot:onboot-dhcpcd:pending", "onboot:sysctl:pending", "onboot:broken:pending",
		"system:containerd:pending",
		"service:dhcpcd:pending", "service:nginx:pending",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %v, want %v", got, want)
	}
	ids := map[string]string{}
	for _, u := range append(s.onboot, s.services...) {
		ids[u.Name] = u.ID
	}
	wantIDs := map[string]string{"onboot-dhcpcd": "keel-onboot-dhcpcd", "sysctl": "keel-onboot-sysctl", "dhcpcd": "dhcpcd", "nginx": "nginx"}
	for n, id := range wantIDs {
		if ids[n] != id {
			t.Errorf("id of %s: got %q, want %q", n, ids[n], id)
		}
	}
	if s.onboot[2].Err == nil {
		t.Error("bundle without keel.json: got no error, want one")
	}
	if _, ok := s.Logs("sysctl"); !ok {
		t.Error("Logs of a pending container: got unknown, want empty logs")
	}
	if _, ok := s.Logs("nope"); ok {
		t.Error("Logs(nope): got found, want unknown")
	}
}

func TestMissingContainersDir(t *testing.T) {
	s, err := New(Config{ContainersDir: filepath.Join(t.TempDir(), "none"), Runners: &fakeRunners{}})
	if err != nil {
		t.Fatal(err)
	}
	if l := s.Containers(); len(l) != 1 || l[0].Name != ContainerdName {
		t.Errorf("got %+v, want only containerd", l)
	}
}
