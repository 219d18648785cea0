package segment

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxSocketPath is what a unix socket address holds (sun_path less its
// terminating NUL).
const maxSocketPath = 107

// startTimeout bounds the wait for a switch just started to answer.
const startTimeout = 10 * time.Second

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// CheckName says whether name can name a segment: it becomes a file name
// and part of QEMU's option string.
func CheckName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("segment name %q: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Dir is where this user's segment sockets live: $XDG_RUNTIME_DIR/keel/segments,
// else /run/keel/segments for root, else a keel-UID directory under the
// temporary directory.
func Dir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "keel", "segments")
	}
	if os.Geteuid() == 0 {
		return "/run/keel/segments"
	}
	return filepath.Join(os.TempDir(), "keel-"+strconv.Itoa(os.Geteuid()), "segments")
}

// Socket is the path of segment name's socket in dir.
func Socket(dir, name string) string { return filepath.Join(dir, name+".sock") }

// prepare makes dir private to this user (0700) and checks that it and its
// parent are this user's: whoever could replace them could read every
// frame of the segments.
func prepare(dir, name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	sock := Socket(dir, name)
	if len(sock) > maxSocketPath {
		return "", fmt.Errorf("segment socket %s: longer than the %d bytes a unix socket path may have; use a shorter directory (XDG_RUNTIME_DIR)", sock, maxSocketPath)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("segment directory: %w", err)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		fi, err := os.Lstat(d)
		if err != nil {
			return "", fmt.Errorf("segment directory: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !fi.IsDir() || !ok || int(st.Uid) != os.Geteuid() {
			return "", fmt.Errorf("segment directory %s is not a directory of yours: remove it, or set XDG_RUNTIME_DIR to a private directory", d)
		}
		if d == dir && fi.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("segment directory %s has mode %04o: make it 0700 (chmod 700 %s)", d, fi.Mode().Perm(), d)
		}
	}
	return sock, nil
}

// lock takes the segment's lock file, which orders the starts of its
// switch against each other and against an idle switch going away.
func lock(dir, name string) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(dir, name+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("segment %q: %w", name, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("segment %q: locking %s: %w", name, f.Name(), err)
	}
	return func() { f.Close() }, nil
}

// answers says whether a switch accepts connections on sock.
func answers(sock string) bool {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Ensure makes sure a switch serves segment name in dir, calling start
// (under the segment's lock, after removing a stale socket) when none
// answers, and returns the socket's path once one does.
func Ensure(ctx context.Context, dir, name string, start func() error) (string, error) {
	sock, err := prepare(dir, name)
	if err != nil {
		return "", err
	}
	unlock, err := lock(dir, name)
	if err != nil {
		return "", err
	}
	defer unlock()
	if answers(sock) {
		return sock, nil
	}
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("segment %q: removing the stale socket: %w", name, err)
	}
	if err := start(); err != nil {
		return "", fmt.Errorf("starting the switch of segment %q: %w", name, err)
	}
	deadline := time.Now().Add(startTimeout)
	for !answers(sock) {
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the switch of segment %q did not answer on %s within %s (its log: %s)", name, sock, startTimeout, LogFile(dir, name))
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return sock, nil
}

// LogFile is where a switch started by Spawn writes its log.
func LogFile(dir, name string) string { return filepath.Join(dir, name+".log") }

// Listen makes segment name's socket in dir, mode 0600. It fails when a
// switch already answers there and replaces a stale socket.
func Listen(dir, name string) (net.Listener, error) {
	sock, err := prepare(dir, name)
	if err != nil {
		return nil, err
	}
	if answers(sock) {
		return nil, fmt.Errorf("segment %q already has a switch on %s", name, sock)
	}
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("segment %q: removing the stale socket: %w", name, err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("segment %q: %w", name, err)
	}
	// The directory is 0700 already; the socket says so too.
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("segment %q: %w", name, err)
	}
	return ln, nil
}

// Server is one segment's switch on its socket.
type Server struct {
	Dir, Name string
	Switch    *Switch
	// Idle, when positive, ends Serve once the switch has had no port for
	// that long (a switch started for VMs goes when they have gone).
	Idle time.Duration
}

// Serve attaches every connection on ln to the switch until ctx ends or
// the switch has been idle for Idle; then it closes ln (removing the
// socket) and every port.
func (sv *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer sv.Switch.Close()
	accepted := make(chan error, 1)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				accepted <- err
				return
			}
			_ = sv.Switch.Attach(c) // a refusal is logged and closes c
		}
	}()
	started := time.Now()
	var tick <-chan time.Time
	if sv.Idle > 0 {
		t := time.NewTicker(min(sv.Idle, time.Second))
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			ln.Close()
			<-accepted
			return nil
		case err := <-accepted:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("segment %q: %w", sv.Name, err)
		case <-tick:
			if sv.idleFor(started) < sv.Idle {
				continue
			}
			// Under the lock, so an Ensure either sees this switch
			// answer (and then its QEMU connects within Idle) or finds
			// the socket gone and starts another.
			unlock, err := lock(sv.Dir, sv.Name)
			if err != nil {
				return err
			}
			if sv.idleFor(started) < sv.Idle {
				unlock()
				continue
			}
			ln.Close()
			<-accepted
			unlock()
			return nil
		}
	}
}

// idleFor is how long the switch has had no port (counting from started
// when it never had one).
func (sv *Server) idleFor(started time.Time) time.Duration {
	since, idle := sv.Switch.Idle()
	if !idle {
		return 0
	}
	if since.IsZero() {
		since = started
	}
	return time.Since(since)
}

// StartInProcess serves segment name in dir from this process, for as
// long as it runs: the switch of a program (a test) that starts its VMs
// itself and outlives them.
func StartInProcess(dir, name string, logf func(string, ...any)) error {
	ln, err := Listen(dir, name)
	if err != nil {
		return err
	}
	sv := &Server{Dir: dir, Name: name, Switch: &Switch{Logf: logf}}
	go sv.Serve(context.Background(), ln)
	return nil
}

// Spawn starts exe with args as the switch of segment name, in a session
// of its own (it outlives the command that started it and its terminal),
// its output in LogFile(dir, name) (the previous switch's log replaced).
func Spawn(exe string, args []string, dir, name string) error {
	log, err := os.OpenFile(LogFile(dir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer log.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	// Reaped if it ends while this process runs; init's otherwise.
	go cmd.Wait()
	return nil
}
