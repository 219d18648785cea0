package main

import (
	"bytes"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
			h := handler(dir, log.New(&logs, "httpd: ", 0))
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
