package boot

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// waitFunc is wait4(-1, status, WNOHANG): a pid, 0 when children remain
// but none has exited, or an error (ECHILD when there are no children).
type waitFunc func(status *unix.WaitStatus) (int, error)

func wait4Any(status *unix.WaitStatus) (int, error) {
	return unix.Wait4(-1, status, unix.WNOHANG, nil)
}

// reaper collects every exited child of PID 1 (orphans included) and hands
// the status to whoever registered the pid. It is the only caller of wait,
// so nothing else may race it for a status.
type reaper struct {
	wait waitFunc

	// mu is held while starting a watched child, so a child that exits at
	// once is not reaped before its listener is registered.
	mu        sync.Mutex
	listeners map[int]chan unix.WaitStatus
	// waitMu makes reap calls from the SIGCHLD loop and from shutdown take
	// turns.
	waitMu sync.Mutex
	// orphans counts the children reaped that nobody registered, for the
	// log and the tests.
	orphans atomic.Int64
}

func newReaper(wait waitFunc) *reaper {
	return &reaper{wait: wait, listeners: map[int]chan unix.WaitStatus{}}
}

// spawn runs start (a fork/exec returning a pid) and returns a channel
// that receives the child's exit status once.
func (r *reaper) spawn(start func() (int, error)) (int, <-chan unix.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := start()
	if err != nil {
		return 0, nil, err
	}
	ch := make(chan unix.WaitStatus, 1)
	r.listeners[pid] = ch
	return pid, ch, nil
}

// reap collects every child that has exited and reports whether any
// children remain.
func (r *reaper) reap() (children bool) {
	r.waitMu.Lock()
	defer r.waitMu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := r.wait(&ws)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil: // ECHILD: nobody left
			return false
		case pid <= 0:
			return true
		}
		r.mu.Lock()
		ch, ok := r.listeners[pid]
		delete(r.listeners, pid)
		r.mu.Unlock()
		if ok {
			ch <- ws
		} else {
			r.orphans.Add(1)
			klog.Debugf("reaped orphan pid %d: %s", pid, describeExit(ws))
		}
	}
}

// describeExit says how a process ended, for the log.
func describeExit(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return "exit status " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		s := "killed by " + unix.SignalName(ws.Signal())
		if ws.CoreDump() {
			s += " (core dumped)"
		}
		return s
	default:
		return "status " + strconv.Itoa(int(ws))
	}
}
