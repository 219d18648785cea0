package runner

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeProc is a process that exits on the signals in dieOn and records
// every signal it is sent.
type fakeProc struct {
	dieOn  []syscall.Signal
	mu     sync.Mutex
	got    []syscall.Signal
	exited chan int
	once   sync.Once
}

func newFakeProc(dieOn ...syscall.Signal) *fakeProc {
	return &fakeProc{dieOn: dieOn, exited: make(chan int, 1)}
}

func (p *fakeProc) send(sig syscall.Signal) error {
	p.mu.Lock()
	p.got = append(p.got, sig)
	p.mu.Unlock()
	if slices.Contains(p.dieOn, sig) {
		p.once.Do(func() { p.exited <- 128 + int(sig) })
	}
	return nil
}

func (p *fakeProc) signals() []syscall.Signal {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.got)
}

func TestStop(t *testing.T) {
	tests := []struct {
		name    string
		signal  syscall.Signal
		dieOn   []syscall.Signal
		want    []syscall.Signal
		killed  bool
		exit    int
		wantErr error
	}{
		{"exits on SIGTERM, no SIGKILL", 0, []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL},
			[]syscall.Signal{syscall.SIGTERM}, false, 143, nil},
		{"its own stop signal", syscall.SIGUSR1, []syscall.Signal{syscall.SIGUSR1, syscall.SIGKILL},
			[]syscall.Signal{syscall.SIGUSR1}, false, 138, nil},
		{"ignores the signal: SIGKILL after the timeout", 0, []syscall.Signal{syscall.SIGKILL},
			[]syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}, true, 137, nil},
		{"survives SIGKILL: the context bounds the wait", 0, nil,
			[]syscall.Signal{syscall.SIGTERM, syscall.SIGKILL}, true, 0, errNoExit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newFakeProc(tc.dieOn...)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			// A process that obeys gets a minute: only one that does not
			// waits out the timeout.
			timeout := time.Minute
			if tc.killed {
				timeout = 20 * time.Millisecond
			}
			res, err := stop(ctx, stopper{Signal: tc.signal, Timeout: timeout, Send: p.send}, p.exited)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error: got %v, want %v", err, tc.wantErr)
			}
			if got := p.signals(); !slices.Equal(got, tc.want) {
				t.Errorf("signals sent: got %v, want %v", got, tc.want)
			}
			if res.Killed != tc.killed {
				t.Errorf("killed: got %v, want %v", res.Killed, tc.killed)
			}
			if res.Exit != tc.exit {
				t.Errorf("exit: got %d, want %d", res.Exit, tc.exit)
			}
			if want := tc.want[len(tc.want)-1]; res.Signal != want {
				t.Errorf("last signal: got %v, want %v", res.Signal, want)
			}
		})
	}
}

// TestStopSendErrors: a signal that cannot be sent ends the stop with its
// error, and nothing more is sent or waited for.
func TestStopSendErrors(t *testing.T) {
	boom := errors.New("boom")
	var sent []syscall.Signal
	_, err := stop(context.Background(), stopper{
		Timeout: time.Hour,
		Send:    func(sig syscall.Signal) error { sent = append(sent, sig); return boom },
	}, make(chan struct{}))
	if !errors.Is(err, boom) {
		t.Errorf("stop signal failing: got %v, want %v", err, boom)
	}
	if want := []syscall.Signal{syscall.SIGTERM}; !slices.Equal(sent, want) {
		t.Errorf("signals sent: got %v, want %v", sent, want)
	}

	killed := false
	_, err = stop(context.Background(), stopper{
		Timeout: time.Millisecond,
		Send:    func(syscall.Signal) error { return nil },
		Kill:    func() error { killed = true; return boom },
	}, make(chan struct{}))
	if !errors.Is(err, boom) || !killed {
		t.Errorf("SIGKILL failing: got %v (Kill called %v), want %v", err, killed, boom)
	}
}

// The stop as the runners do it, on real child processes: a child that
// dies on the stop signal is not sent SIGKILL, one that ignores it is
// killed once the timeout has passed.
func TestProcessStop(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		signal  syscall.Signal
		timeout time.Duration
		code    int
	}{
		{"exits on SIGTERM", "echo ready; exec sleep 30", 0, time.Minute, 143},
		{"exits on its stop signal", "echo ready; exec sleep 30", syscall.SIGUSR1, time.Minute, 138},
		{"ignores SIGTERM, SIGKILL after the timeout", "trap '' TERM; echo ready; exec sleep 30", 0, 300 * time.Millisecond, 137},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stopAsked time.Time
			// The stop comes once sh has set its trap and said so.
			ready := writerFunc(func(b []byte) (int, error) {
				stopAsked = time.Now()
				cancel()
				return len(b), nil
			})
			p := &Process{Path: "/bin/sh", Args: []string{"-c", tc.script}, Stdout: ready,
				StopSignal: tc.signal, StopTimeout: tc.timeout}
			code, err := p.Run(ctx, nil)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if code != tc.code {
				t.Errorf("exit code: got %d, want %d", code, tc.code)
			}
			if code == 137 {
				if waited := time.Since(stopAsked); waited < tc.timeout {
					t.Errorf("SIGKILL came %s after the stop, want at least the timeout %s", waited, tc.timeout)
				}
			}
		})
	}
}

// TestAdoptedStop: an adopted process is stopped the same way through its
// pidfd, and the exit code says which signal ended it.
func TestAdoptedStop(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		timeout time.Duration
		code    int
	}{
		{"exits on SIGTERM", "echo ready; exec sleep 30", time.Minute, 143},
		{"ignores SIGTERM, killed", "trap '' TERM; echo ready; exec sleep 30", 300 * time.Millisecond, 137},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("/bin/sh", "-c", tc.script)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait() //nolint:errcheck // reaps the child; its status is not the point
			a := &Adopted{Pid: cmd.Process.Pid, StopTimeout: tc.timeout}
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				// The stop comes once sh has set its trap and said so.
				_, _ = out.Read(make([]byte, 16))
				cancel()
			}()
			code, err := a.Run(ctx, nil)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if code != tc.code {
				t.Errorf("exit code: got %d, want %d", code, tc.code)
			}
		})
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }
