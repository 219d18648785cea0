package boot

import (
	"fmt"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keel-os/keel/internal/backoff"
	"github.com/keel-os/keel/internal/initctl"
)

// svcdEnv is the whole environment svcd gets.
var svcdEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/", "TERM=linux"}

// supervisor keeps svcd running until shutdown.
type supervisor struct {
	path   string
	reaper *reaper

	mu       sync.Mutex
	pid      int
	stopping bool
	stopSig  unix.Signal
	stopCh   chan struct{} // closed when shutdown begins
	done     chan struct{} // closed when run returns: no svcd is running
	// started receives the result of the first start attempt, so boot can
	// record it; nil error with pid 0 means svcd is absent.
	started chan error
	// devices, when not nil, is closed once the modules of the devices
	// present at boot are loaded; until then svcd gets a pipe that says so
	// (initctl.DevicesFDEnv).
	devices <-chan struct{}
}

func newSupervisor(path string, r *reaper) *supervisor {
	return &supervisor{path: path, reaper: r, stopCh: make(chan struct{}), done: make(chan struct{}), started: make(chan error, 1)}
}

// run starts svcd and restarts it whenever it exits, until stop is called.
func (s *supervisor) run() {
	defer close(s.done)
	b := backoff.New(backoff.Svcd)
	first := true
	report := func(err error) {
		if first {
			s.started <- err
			first = false
		}
	}
	for {
		if _, err := os.Stat(s.path); err != nil {
			klog.Printf("%s not found: no services will run; waiting for a shutdown signal", s.path)
			report(nil)
			return
		}
		began := time.Now()
		pid, exited, err := s.reaper.spawn(s.start)
		if err != nil {
			klog.Printf("start %s: %v", s.path, err)
			report(err)
		} else {
			klog.Printf("svcd started pid %d", pid)
			report(nil)
			s.mu.Lock()
			s.pid = pid
			if s.stopping { // stop came while svcd was starting
				unix.Kill(pid, s.stopSig)
			}
			s.mu.Unlock()
			ws := <-exited
			s.mu.Lock()
			s.pid = 0
			stopping := s.stopping
			s.mu.Unlock()
			if stopping {
				klog.Printf("svcd exited: %s", describeExit(ws))
				return
			}
			klog.Printf("svcd (pid %d) exited unexpectedly: %s", pid, describeExit(ws))
		}
		d := b.Next(time.Since(began))
		klog.Printf("restarting svcd in %s", d)
		select {
		case <-time.After(d):
		case <-s.stopCh:
			return
		}
	}
}

// start forks and execs svcd in its own session with the console as stdio.
func (s *supervisor) start() (int, error) {
	files := []uintptr{0, 1, 2}
	if fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0); err == nil {
		defer unix.Close(fd)
		files = []uintptr{uintptr(fd), uintptr(fd), uintptr(fd)}
	}
	env := svcdEnv
	if r := s.devicesPipe(); r != nil {
		defer r.Close()
		files = append(files, r.Fd())
		env = append(slices.Clone(svcdEnv), fmt.Sprintf("%s=%d", initctl.DevicesFDEnv, initctl.DevicesFD))
	}
	return syscall.ForkExec(s.path, []string{s.path}, &syscall.ProcAttr{
		Dir:   "/",
		Env:   env,
		Files: files,
		Sys:   &syscall.SysProcAttr{Setsid: true},
	})
}

// devicesPipe returns the read end of a pipe whose write end is closed
// when s.devices is, or nil when devices are ready or no pipe can be made
// (svcd then runs onboot at once, as before the modules ran beside it).
func (s *supervisor) devicesPipe() *os.File {
	if s.devices == nil {
		return nil
	}
	select {
	case <-s.devices:
		return nil
	default:
	}
	r, w, err := os.Pipe()
	if err != nil {
		klog.Printf("svcd will not wait for the device scan: %v", err)
		return nil
	}
	go func() {
		<-s.devices
		w.Close()
	}()
	return r
}

// stop makes run return: it signals a running svcd with sig and waits up to
// timeout for it to exit. It reports whether svcd is gone.
func (s *supervisor) stop(sig unix.Signal, timeout time.Duration) bool {
	s.mu.Lock()
	if !s.stopping {
		s.stopping = true
		s.stopSig = sig
		close(s.stopCh)
	}
	pid := s.pid
	s.mu.Unlock()
	if pid > 0 {
		if err := unix.Kill(pid, sig); err != nil {
			klog.Printf("signal svcd (pid %d): %v", pid, err)
		}
	}
	select {
	case <-s.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// waitStarted waits for the first start attempt and describes it.
func (s *supervisor) waitStarted() error {
	if err := <-s.started; err != nil {
		return fmt.Errorf("start svcd: %w", err)
	}
	return nil
}
