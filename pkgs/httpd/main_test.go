package main

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("<h1>hello</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sub", "a.txt"), []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		wantStatus   int
		wantBody     string
		wantLog      string
	}{
		{"GET", "/", 200, "<h1>hello</h1>\n", `^httpd: 192\.0\.2\.1:1234 GET / 200 15 \S+\n$`},
		{"GET", "/sub/a.txt", 200, "a", `GET /sub/a\.txt 200 1 `},
		{"GET", "/missing", 404, "404 page not found\n", `GET /missing 404 19 `},
		{"GET", "/../../etc/passwd", 404, "", `GET /\.\./\.\./etc/passwd 404 `},
		{"HEAD", "/", 200, "", `HEAD / 200 0 `},
		{"POST", "/", 405, "method not allowed\n", `POST / 405 19 `},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var logs bytes.Buffer
			h, closer, err := handler(options{dir: dir}, log.New(&logs, "httpd: ", 0))
			if err != nil {
				t.Fatal(err)
			}
			defer closer.Close()
			req := httptest.NewRequest(tt.method, "http://keel"+tt.path, nil)
			req.RemoteAddr = "192.0.2.1:1234"
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.wantStatus {
				t.Errorf("status: got %d, want %d", rec.Code, tt.wantStatus)
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("body: got %q, want %q", rec.Body.String(), tt.wantBody)
			}
			if !regexp.MustCompile(tt.wantLog).MatchString(logs.String()) {
				t.Errorf("log: got %q, want a match for %q", logs.String(), tt.wantLog)
			}
		})
	}
}

func TestRunRejectsBadSetup(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-dir", filepath.Join(t.TempDir(), "missing")}, "is not a directory"},
		{[]string{"-dir", file}, "is not a directory"},
		{[]string{"-dir", t.TempDir(), "extra"}, "unexpected arguments"},
		{[]string{"-dir", t.TempDir(), "-addr", "256.0.0.1:80"}, "listen on 256.0.0.1:80"},
		{[]string{"-port", "80"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		err := run(tt.args, &stderr)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
		}
	}
}

// TestConfinement: by default httpd serves the directory's files and
// nothing else: no symlink out of it, no dotfiles, no listings; each is
// served only when its flag asks for it.
func TestConfinement(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("index.html", "home")
	write("a.txt", "a")
	write(".env", "PASSWORD=x")
	write(".git/config", "[core]")
	write("sub/.htpasswd", "x")
	write(".well-known/acme-challenge/tok", "tok")
	write("list/one.txt", "1")
	write("withindex/index.html", "idx")
	for _, l := range [][2]string{
		{filepath.Join(outside, "secret"), "out-file"},
		{outside, "out-dir"},
		{"a.txt", "in-link"},
		{"/etc", "etc"},
	} {
		if err := os.Symlink(l[0], filepath.Join(dir, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		o          options
		path       string
		wantStatus int
		wantBody   string
	}{
		{"file", options{}, "/a.txt", 200, "a"},
		{"symlink inside", options{}, "/in-link", 200, "a"},
		{"symlink to a file outside", options{}, "/out-file", 404, ""},
		{"through a symlinked dir outside", options{}, "/out-dir/secret", 404, ""},
		{"symlink to /etc", options{}, "/etc/passwd", 404, ""},
		{"outside with -follow-symlinks", options{followSymlinks: true}, "/out-file", 200, "secret"},
		{"dotfile", options{}, "/.env", 404, ""},
		{"dot dir", options{}, "/.git/config", 404, ""},
		{"dotfile below", options{}, "/sub/.htpasswd", 404, ""},
		{"encoded dot", options{}, "/%2eenv", 404, ""},
		{".well-known", options{}, "/.well-known/acme-challenge/tok", 200, "tok"},
		{"dotfile with -dotfiles", options{dotfiles: true}, "/.env", 200, "PASSWORD=x"},
		{"listing", options{}, "/list/", 404, ""},
		{"listing of the root's dir without slash", options{}, "/list", 404, ""},
		{"dir with index", options{}, "/withindex/", 200, "idx"},
		{"listing with -listings", options{listings: true}, "/list/", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.dir = dir
			h, closer, err := handler(tt.o, log.New(io.Discard, "", 0))
			if err != nil {
				t.Fatal(err)
			}
			defer closer.Close()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "http://keel"+tt.path, nil))
			if rec.Code != tt.wantStatus {
				t.Errorf("GET %s: got status %d, want %d (body %.60q)", tt.path, rec.Code, tt.wantStatus, rec.Body.String())
			}
			if tt.wantBody != "" && rec.Body.String() != tt.wantBody {
				t.Errorf("GET %s: got body %q, want %q", tt.path, rec.Body.String(), tt.wantBody)
			}
			if tt.wantStatus == 404 && strings.Contains(rec.Body.String(), "secret") {
				t.Errorf("GET %s: the body leaks the file: %q", tt.path, rec.Body.String())
			}
		})
	}
}

// TestTimeouts: the default server has every timeout, and a client that
// opens a connection and sends half a request is cut off.
func TestTimeouts(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(o, http.NotFoundHandler())
	for name, d := range map[string]time.Duration{"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout} {
		if d <= 0 {
			t.Errorf("default %s: got %s, want a limit", name, d)
		}
	}
	o, err = parseFlags([]string{"-read-header-timeout", "200ms", "-idle-timeout", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parseFlags([]string{"-read-timeout", "-1s"}, io.Discard); err == nil {
		t.Error("a negative timeout: got no error")
	}
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.Config = newServer(o, http.NotFoundHandler())
	ts.Start()
	defer ts.Close()
	c, err := net.Dial("tcp", ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	b, _ := io.ReadAll(c)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("a half-sent request held its connection for %s, want it closed after ~200ms", took)
	}
	t.Logf("server answered %q", b)
}
