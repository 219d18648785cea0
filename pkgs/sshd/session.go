package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Request payloads, in the layout of RFC 4254 section 6.
type ptyRequest struct {
	Term          string
	Cols, Rows    uint32
	Width, Height uint32
	Modes         string
}

type windowChange struct {
	Cols, Rows    uint32
	Width, Height uint32
}

type envRequest struct{ Name, Value string }

type stringRequest struct{ Value string }

type exitStatus struct{ Status uint32 }

type exitSignal struct {
	Signal     string
	CoreDumped bool
	Message    string
	Lang       string
}

// envName is what a client may set with an env request: a plain variable
// name, so a client cannot smuggle "A=B=C" or an empty name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// outputDrain is how long output still buffered in the terminal is forwarded
// after the shell exits; background jobs holding the terminal open must not
// keep the session alive.
const outputDrain = 2 * time.Second

// session is one session channel: at most one shell, command or subsystem.
type session struct {
	srv    *Server
	ch     ssh.Channel
	remote net.Addr
	local  net.Addr

	mu      sync.Mutex
	env     []string
	pty     *ptyRequest
	size    *pty.Winsize
	tty     *os.File // the terminal's master side once a program runs on it
	cmd     *exec.Cmd
	started bool
	exited  bool
}

func (s *session) serve(reqs <-chan *ssh.Request) {
	for req := range reqs {
		ok := s.request(req)
		if req.WantReply {
			_ = req.Reply(ok, nil)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// The client went away: end what it started.
	if s.cmd != nil && !s.exited {
		_ = s.cmd.Process.Signal(syscall.SIGHUP)
	}
}

// request handles one channel request and reports whether it succeeded.
func (s *session) request(req *ssh.Request) bool {
	switch req.Type {
	case "env":
		var r envRequest
		if ssh.Unmarshal(req.Payload, &r) != nil || !envName.MatchString(r.Name) {
			return false
		}
		s.mu.Lock()
		s.env = append(s.env, r.Name+"="+r.Value)
		s.mu.Unlock()
		return true
	case "pty-req":
		var r ptyRequest
		if ssh.Unmarshal(req.Payload, &r) != nil {
			return false
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.pty = &r
		s.size = &pty.Winsize{Cols: uint16(r.Cols), Rows: uint16(r.Rows), X: uint16(r.Width), Y: uint16(r.Height)}
		return true
	case "window-change":
		var r windowChange
		if ssh.Unmarshal(req.Payload, &r) != nil {
			return false
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.size = &pty.Winsize{Cols: uint16(r.Cols), Rows: uint16(r.Rows), X: uint16(r.Width), Y: uint16(r.Height)}
		if s.tty != nil {
			return pty.Setsize(s.tty, s.size) == nil
		}
		return true
	case "shell":
		return s.start(req.Type, nil)
	case "exec":
		var r stringRequest
		if ssh.Unmarshal(req.Payload, &r) != nil {
			return false
		}
		return s.start(req.Type, &r.Value)
	case "subsystem":
		var r stringRequest
		if ssh.Unmarshal(req.Payload, &r) != nil || r.Value != "sftp" {
			return false
		}
		return s.startSFTP()
	case "signal":
		var r stringRequest
		if ssh.Unmarshal(req.Payload, &r) != nil {
			return false
		}
		return s.signal(r.Value)
	default:
		// x11-req, auth-agent-req@openssh.com: not offered.
		return false
	}
}

// start runs a login shell (command nil) or a command through the shell.
func (s *session) start(kind string, command *string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return false
	}
	s.started = true
	args := []string{"-l"}
	if command != nil {
		args = []string{"-c", *command}
	}
	cmd := exec.Command(s.srv.Shell, args...)
	cmd.Dir = s.srv.Dir
	cmd.Env = s.environ()
	var err error
	if s.pty != nil {
		err = s.startPTY(cmd)
	} else {
		err = s.startPipes(cmd)
	}
	what := kind
	if command != nil {
		what = fmt.Sprintf("exec %q", *command)
	}
	if err != nil {
		s.srv.Log.Printf("%s from %s: %v", what, s.remote, err)
		return false
	}
	s.cmd = cmd
	s.srv.Log.Printf("%s from %s: pid %d", what, s.remote, cmd.Process.Pid)
	return true
}

// startSFTP serves the sftp subsystem in process: the image has no scp or
// sftp-server binary, and OpenSSH's scp speaks SFTP since version 9.
func (s *session) startSFTP() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return false
	}
	s.started = true
	srv, err := sftp.NewServer(s.ch, sftp.WithServerWorkingDirectory(s.srv.Dir))
	if err != nil {
		s.srv.Log.Printf("sftp from %s: %v", s.remote, err)
		return false
	}
	s.srv.Log.Printf("sftp from %s", s.remote)
	go func() {
		status := uint32(0)
		if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
			s.srv.Log.Printf("sftp from %s: %v", s.remote, err)
			status = 1
		}
		s.mu.Lock()
		s.exited = true
		s.mu.Unlock()
		_, _ = s.ch.SendRequest("exit-status", false, ssh.Marshal(&exitStatus{Status: status}))
		_ = s.ch.Close()
	}()
	return true
}

func (s *session) environ() []string {
	env := append([]string(nil), s.srv.Env...)
	rh, rp, _ := net.SplitHostPort(s.remote.String())
	lh, lp, _ := net.SplitHostPort(s.local.String())
	env = append(env,
		"SSH_CLIENT="+rh+" "+rp+" "+lp,
		"SSH_CONNECTION="+rh+" "+rp+" "+lh+" "+lp)
	if s.pty != nil {
		env = append(env, "TERM="+s.pty.Term)
	}
	return append(env, s.env...)
}

func (s *session) startPTY(cmd *exec.Cmd) error {
	tty, err := pty.StartWithSize(cmd, s.size)
	if err != nil {
		return fmt.Errorf("starting on a terminal: %w", err)
	}
	s.tty = tty
	out := make(chan struct{})
	go func() { _, _ = io.Copy(tty, s.ch) }()
	go func() { _, _ = io.Copy(s.ch, tty); close(out) }()
	go func() {
		err := cmd.Wait()
		select {
		case <-out:
		case <-time.After(outputDrain):
		}
		s.mu.Lock()
		_ = tty.Close()
		s.tty = nil
		s.mu.Unlock()
		s.finish(cmd, err)
	}()
	return nil
}

func (s *session) startPipes(cmd *exec.Cmd) error {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	// Stdout and stderr stay apart: the client reads them separately.
	cmd.Stdout = s.ch
	cmd.Stderr = s.ch.Stderr()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	// A background job that keeps stdout open must not hold the session.
	cmd.WaitDelay = outputDrain
	if err := cmd.Start(); err != nil {
		return err
	}
	// Not waited for: a client that never sends EOF must not hold the
	// session open after the command exits.
	go func() { _, _ = io.Copy(stdin, s.ch); _ = stdin.Close() }()
	go func() { s.finish(cmd, cmd.Wait()) }()
	return nil
}

// finish reports how the program ended and closes the channel.
func (s *session) finish(cmd *exec.Cmd, waitErr error) {
	s.mu.Lock()
	s.exited = true
	s.mu.Unlock()
	var ee *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &ee) {
		s.srv.Log.Printf("session from %s: %v", s.remote, waitErr)
	}
	st := cmd.ProcessState
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		sig := &exitSignal{Signal: signalName(ws.Signal()), CoreDumped: ws.CoreDump()}
		_, _ = s.ch.SendRequest("exit-signal", false, ssh.Marshal(sig))
	} else {
		_, _ = s.ch.SendRequest("exit-status", false, ssh.Marshal(&exitStatus{Status: uint32(st.ExitCode())}))
	}
	_ = s.ch.Close()
}

// signals maps RFC 4254's signal names to the process signals.
var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE,
	"HUP": syscall.SIGHUP, "ILL": syscall.SIGILL, "INT": syscall.SIGINT,
	"KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE, "QUIT": syscall.SIGQUIT,
	"SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

func signalName(sig syscall.Signal) string {
	for name, s := range signals {
		if s == sig {
			return name
		}
	}
	return fmt.Sprintf("%d", int(sig))
}

func (s *session) signal(name string) bool {
	sig, ok := signals[name]
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok || s.cmd == nil || s.exited {
		return false
	}
	return s.cmd.Process.Signal(sig) == nil
}
