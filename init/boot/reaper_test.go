package boot

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeWait returns queued results, then ECHILD or "none ready".
type fakeWait struct {
	queue    []waitResult
	children bool // what to say once the queue is empty
}

type waitResult struct {
	pid int
	ws  unix.WaitStatus
	err error
}

func (f *fakeWait) wait(ws *unix.WaitStatus) (int, error) {
	if len(f.queue) == 0 {
		if f.children {
			return 0, nil
		}
		return -1, unix.ECHILD
	}
	r := f.queue[0]
	f.queue = f.queue[1:]
	*ws = r.ws
	return r.pid, r.err
}

func TestReaperFanOut(t *testing.T) {
	klog = &logger{console: &bytes.Buffer{}}
	fw := &fakeWait{children: true}
	r := newReaper(fw.wait)
	pidA, chA, err := r.spawn(func() (int, error) { return 10, nil })
	if err != nil || pidA != 10 {
		t.Fatalf("spawn: got %d, %v, want 10, nil", pidA, err)
	}
	_, chB, _ := r.spawn(func() (int, error) { return 11, nil })

	fw.queue = []waitResult{
		{pid: 99, ws: 0},                  // an orphan: reaped, nobody told
		{err: unix.EINTR},                 // retried
		{pid: 11, ws: unix.WaitStatus(9)}, // B killed
	}
	if !r.reap() {
		t.Error("reap: got no children left, want children remaining")
	}
	select {
	case ws := <-chB:
		if !ws.Signaled() || ws.Signal() != unix.SIGKILL {
			t.Errorf("B: got %s, want killed by SIGKILL", describeExit(ws))
		}
	default:
		t.Fatal("B: no status delivered")
	}
	select {
	case ws := <-chA:
		t.Fatalf("A: got %s before it exited", describeExit(ws))
	default:
	}

	fw.queue = []waitResult{{pid: 10, ws: unix.WaitStatus(2 << 8)}}
	fw.children = false
	if r.reap() {
		t.Error("reap: got children remaining, want none (ECHILD)")
	}
	if ws := <-chA; ws.ExitStatus() != 2 {
		t.Errorf("A: got %s, want exit status 2", describeExit(ws))
	}
	if len(r.listeners) != 0 {
		t.Errorf("listeners left: %v, want none", r.listeners)
	}
}

func TestReaperSpawnError(t *testing.T) {
	r := newReaper((&fakeWait{}).wait)
	if _, _, err := r.spawn(func() (int, error) { return 0, unix.ENOENT }); err != unix.ENOENT {
		t.Errorf("got %v, want ENOENT", err)
	}
	if len(r.listeners) != 0 {
		t.Errorf("listeners: got %v, want none after a failed start", r.listeners)
	}
}
