package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"log"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// lockedBuffer collects the server's log from its goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer runs a server on a loopback port that lets the returned key
// log in, and returns its address and its log.
func startServer(t *testing.T) (string, ssh.Signer, *lockedBuffer) {
	t.Helper()
	dir := t.TempDir()
	user := newSigner(t)
	authFile := filepath.Join(dir, "authorized_keys")
	content := "# comment\n\nnot a key\n" + string(ssh.MarshalAuthorizedKey(user.PublicKey()))
	if err := os.WriteFile(authFile, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := LoadHostKeys(nil, filepath.Join(dir, "hostkeys"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	srv := &Server{
		HostKeys:       keys,
		AuthorizedKeys: AuthorizedKeys{filepath.Join(dir, "missing"), authFile},
		Shell:          "/bin/sh",
		Dir:            dir,
		Env:            []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir},
		Log:            log.New(logs, "", 0),
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		l.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String(), user, logs
}

func dial(addr, user string, key ssh.Signer) (*ssh.Client, error) {
	return ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
}

func TestAuth(t *testing.T) {
	addr, good, logs := startServer(t)
	tests := []struct {
		name string
		user string
		key  ssh.Signer
		ok   bool
		log  string
	}{
		{"authorized key", "root", good, true, "root logged in from"},
		{"unknown key", "root", newSigner(t), false, "auth failure: ssh-ed25519 key"},
		{"other user", "admin", good, false, `auth failure: user "admin"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := dial(addr, tt.user, tt.key)
			if err == nil {
				c.Close()
			}
			if got := err == nil; got != tt.ok {
				t.Fatalf("login succeeded = %v (err %v), want %v", got, err, tt.ok)
			}
			// The server logs after the client has its answer.
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(logs.String(), tt.log) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if !strings.Contains(logs.String(), tt.log) {
				t.Errorf("server log lacks %q:\n%s", tt.log, logs.String())
			}
		})
	}
}

func TestExec(t *testing.T) {
	addr, key, _ := startServer(t)
	c, err := dial(addr, "root", key)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		cmd        string
		env        map[string]string
		stdin      string
		wantOut    string
		wantErr    string
		wantStatus int
	}{
		{cmd: "echo hi", wantOut: "hi\n"},
		{cmd: "exit 3", wantStatus: 3},
		{cmd: "echo out; echo err >&2; exit 1", wantOut: "out\n", wantErr: "err\n", wantStatus: 1},
		{cmd: `echo "$GREETING $SSH_CONNECTION"`, env: map[string]string{"GREETING": "hello"}, wantOut: "hello 127.0.0.1 "},
		{cmd: "tr a-z A-Z", stdin: "piped\n", wantOut: "PIPED\n"},
		{cmd: "kill -TERM $$", wantStatus: -1},
		// A background job holding stdout must not keep the session open.
		{cmd: "sleep 6 & echo started", wantOut: "started\n"},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			s, err := c.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for k, v := range tt.env {
				if err := s.Setenv(k, v); err != nil {
					t.Fatalf("Setenv: %v", err)
				}
			}
			var stdout, stderr bytes.Buffer
			s.Stdout, s.Stderr = &stdout, &stderr
			s.Stdin = strings.NewReader(tt.stdin)
			start := time.Now()
			err = s.Run(tt.cmd)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("command took %s, want it to end with the shell", d)
			}
			status := 0
			var ee *ssh.ExitError
			if errors.As(err, &ee) {
				status = ee.ExitStatus()
				if ee.Signal() != "" {
					status = -1
					if ee.Signal() != "TERM" {
						t.Errorf("exit signal %q, want TERM", ee.Signal())
					}
				}
			} else if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if status != tt.wantStatus {
				t.Errorf("exit status %d, want %d", status, tt.wantStatus)
			}
			if !strings.HasPrefix(stdout.String(), tt.wantOut) || (tt.wantOut == "" && stdout.Len() > 0) {
				t.Errorf("stdout %q, want %q", stdout.String(), tt.wantOut)
			}
			if stderr.String() != tt.wantErr {
				t.Errorf("stderr %q, want %q", stderr.String(), tt.wantErr)
			}
		})
	}
}

// terminal collects a session's output so a test can wait for text in it.
type terminal struct {
	chunks chan []byte
	seen   []byte // output not yet matched
}

func newTerminal(r io.Reader) *terminal {
	tm := &terminal{chunks: make(chan []byte, 64)}
	go func() {
		defer close(tm.chunks)
		for {
			buf := make([]byte, 1024)
			n, err := r.Read(buf)
			if n > 0 {
				tm.chunks <- buf[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	return tm
}

// until waits for want and drops the output up to its end.
func (tm *terminal) until(t *testing.T, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		if i := bytes.Index(tm.seen, []byte(want)); i >= 0 {
			tm.seen = tm.seen[i+len(want):]
			return
		}
		select {
		case b, ok := <-tm.chunks:
			if !ok {
				t.Fatalf("terminal closed; output %q has no %q", tm.seen, want)
			}
			tm.seen = append(tm.seen, b...)
		case <-timeout:
			t.Fatalf("no %q on the terminal within 10s; output %q", want, tm.seen)
		}
	}
}

func TestShellOnTerminal(t *testing.T) {
	addr, key, _ := startServer(t)
	c, err := dial(addr, "root", key)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
		t.Fatalf("RequestPty: %v", err)
	}
	in, err := s.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shell(); err != nil {
		t.Fatalf("Shell: %v", err)
	}
	// The arithmetic keeps the echoed input from matching the answer.
	io.WriteString(in, "echo $((6*7)) $TERM; test -t 0 && echo on-a-tty\n")
	term := newTerminal(out)
	term.until(t, "42 xterm")
	term.until(t, "on-a-tty")
	if err := s.WindowChange(40, 100); err != nil {
		t.Fatalf("WindowChange: %v", err)
	}
	io.WriteString(in, "stty size | sed 's/ /x/'\n")
	term.until(t, "40x100")
	io.WriteString(in, "exit 5\n")
	err = s.Wait()
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 5 {
		t.Errorf("shell ended with %v, want exit status 5", err)
	}
}

func TestSubsystems(t *testing.T) {
	addr, key, _ := startServer(t)
	c, err := dial(addr, "root", key)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestSubsystem("netconf"); err == nil {
		t.Error("unknown subsystem accepted, want it refused")
	}

	// What scp and sftp do: write a file and read it back.
	sc, err := sftp.NewClient(c)
	if err != nil {
		t.Fatalf("sftp: %v", err)
	}
	defer sc.Close()
	wd, err := sc.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	f, err := sc.Create(wd + "/copied")
	if err != nil {
		t.Fatalf("sftp create: %v", err)
	}
	if _, err := io.WriteString(f, "over sftp\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := os.ReadFile(filepath.Join(wd, "copied"))
	if err != nil || string(got) != "over sftp\n" {
		t.Errorf("file written over sftp holds %q (%v), want %q", got, err, "over sftp\n")
	}
}
