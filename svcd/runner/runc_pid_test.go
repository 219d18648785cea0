package runner

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReportPidOnRename: the pid is reported once runc renames the pid
// file into place, however long after the start that is.
func TestReportPidOnRename(t *testing.T) {
	for _, delay := range []time.Duration{0, 150 * time.Millisecond} {
		dir := t.TempDir()
		pidFile := filepath.Join(dir, "pid")
		if delay == 0 { // already there when the watch starts
			if err := os.WriteFile(pidFile, []byte("4242"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got := make(chan Event, 2)
		done := make(chan struct{})
		go reportPid(done, pidFile, func(e Event) { got <- e })
		if delay > 0 {
			time.Sleep(delay)
			// As runc writes it: a temporary file, then a rename.
			tmp := filepath.Join(dir, ".pid")
			if err := os.WriteFile(tmp, []byte("4242"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, pidFile); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case e := <-got:
			if e.State != StateRunning || e.Pid != 4242 {
				t.Errorf("delay %s: got %+v, want running with pid 4242", delay, e)
			}
		case <-time.After(3 * time.Second):
			t.Errorf("delay %s: no report 3 s after the pid file appeared", delay)
		}
		close(done)
	}
}

// TestReportPidDone: a run that ends before runc wrote a pid reports
// nothing.
func TestReportPidDone(t *testing.T) {
	done := make(chan struct{})
	got := make(chan Event, 1)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		reportPid(done, filepath.Join(t.TempDir(), "pid"), func(e Event) { got <- e })
	}()
	time.Sleep(50 * time.Millisecond)
	close(done)
	select {
	case <-returned:
	case <-time.After(3 * time.Second):
		t.Fatal("reportPid did not return after the run ended")
	}
	select {
	case e := <-got:
		t.Errorf("got %+v, want no report", e)
	default:
	}
}

// TestWatchDir: a file moved into the watched directory wakes the
// watcher, and the watch ends by itself at its deadline.
func TestWatchDir(t *testing.T) {
	dir := t.TempDir()
	ch, stop := watchDir(dir, time.Now().Add(500*time.Millisecond))
	defer stop()
	if ch == nil {
		t.Fatal("watchDir: got no watch on a temp dir, want inotify's")
	}
	tmp := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(tmp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "f")); err != nil {
		t.Fatal(err)
	}
	select {
	case _, open := <-ch:
		if !open {
			t.Fatal("the watch ended instead of reporting the rename")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no wake-up after a file was moved in")
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, open := <-ch:
			if !open {
				return
			}
		case <-deadline:
			t.Fatal("the watch did not end at its deadline")
		}
	}
}
