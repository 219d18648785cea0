package api

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeBackend struct {
	Unsupported
	mu         sync.Mutex
	containers []Container
	logs       map[string][]LogLine
	poweroffs  int
	reboots    int
	powerErr   error
}

func (f *fakeBackend) Containers() []Container { return f.containers }
func (f *fakeBackend) Logs(name string) ([]LogLine, bool) {
	l, ok := f.logs[name]
	return l, ok
}
func (f *fakeBackend) Poweroff() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.poweroffs++
	return f.powerErr
}
func (f *fakeBackend) Reboot() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reboots++
	return f.powerErr
}

// serve starts the API on a socket under a fresh temp dir and returns a
// client for it.
func serve(t *testing.T, b Backend) (*Client, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "svcd.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, l, b) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: got %v, want nil", err)
		}
	})
	return NewClient(path), path
}

func TestContainersRoundTrip(t *testing.T) {
	code := 3
	started := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	want := []Container{
		{Name: "sysctl", Phase: PhaseOnboot, State: "exited", ExitCode: new(int)},
		{Name: "containerd", Phase: PhaseSystem, State: "running", Pid: 42, StartedAt: &started},
		{Name: "crashy", Phase: PhaseService, State: "restarting", ExitCode: &code, Restarts: 2, Error: "boom"},
	}
	c, _ := serve(t, &fakeBackend{containers: want})
	got, err := c.Containers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d containers, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Phase != w.Phase || g.State != w.State || g.Pid != w.Pid ||
			g.Restarts != w.Restarts || g.Error != w.Error {
			t.Errorf("container %d: got %+v, want %+v", i, g, w)
		}
		if (g.ExitCode == nil) != (w.ExitCode == nil) || (g.ExitCode != nil && *g.ExitCode != *w.ExitCode) {
			t.Errorf("container %d exit code: got %v, want %v", i, g.ExitCode, w.ExitCode)
		}
		if (g.StartedAt == nil) != (w.StartedAt == nil) || (g.StartedAt != nil && !g.StartedAt.Equal(*w.StartedAt)) {
			t.Errorf("container %d startedAt: got %v, want %v", i, g.StartedAt, w.StartedAt)
		}
	}
}

func TestEmptyListIsNotNull(t *testing.T) {
	c, _ := serve(t, &fakeBackend{})
	got, err := c.Containers(context.Background())
	if err != nil || got == nil || len(got) != 0 {
		t.Errorf("got %v, %v, want empty list, nil", got, err)
	}
}

func TestLogs(t *testing.T) {
	b := &fakeBackend{logs: map[string][]LogLine{
		"web":   {{Stream: "stdout", Text: "hello"}, {Stream: "stderr", Text: "oops"}},
		"quiet": nil,
	}}
	c, _ := serve(t, b)
	tests := []struct {
		name    string
		want    []string
		wantErr string
	}{
		{"web", []string{"hello", "oops"}, ""},
		{"quiet", nil, ""},
		{"nope", nil, `no container named "nope"`},
	}
	for _, tc := range tests {
		got, err := c.Logs(context.Background(), tc.name)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Logs(%s): got error %v, want one containing %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Logs(%s): %v", tc.name, err)
		}
		var texts []string
		for _, l := range got.Lines {
			texts = append(texts, l.Text)
		}
		if got.Name != tc.name || strings.Join(texts, "|") != strings.Join(tc.want, "|") {
			t.Errorf("Logs(%s): got %s %v, want %s %v", tc.name, got.Name, texts, tc.name, tc.want)
		}
	}
}

func TestPower(t *testing.T) {
	b := &fakeBackend{}
	c, _ := serve(t, b)
	ctx := context.Background()
	if err := c.Poweroff(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Reboot(ctx); err != nil {
		t.Fatal(err)
	}
	if b.poweroffs != 1 || b.reboots != 1 {
		t.Errorf("got %d poweroffs, %d reboots, want 1, 1", b.poweroffs, b.reboots)
	}
	b.powerErr = errors.New("operation not permitted")
	if err := c.Reboot(ctx); err == nil || !strings.Contains(err.Error(), "operation not permitted") {
		t.Errorf("Reboot with failing init: got %v, want the init error", err)
	}
}

func TestSocketPermissionsAndStaleSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "svcd")
	path := filepath.Join(dir, "svcd.sock")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	// A stale socket file from an earlier svcd must not block a new one.
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale file: %v", err)
	}
	defer l.Close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 {
		t.Errorf("socket mode: got %v, want socket 0600", st.Mode())
	}
	dst, _ := os.Stat(dir)
	if dst.Mode().Perm() != 0o700 {
		t.Errorf("dir mode: got %v, want 0700", dst.Mode().Perm())
	}
}

func TestUnreachable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.sock")
	_, err := NewClient(path).Containers(context.Background())
	if err == nil || !strings.Contains(err.Error(), "cannot reach svcd at "+path) {
		t.Errorf("got %v, want an error naming the socket", err)
	}
}

func TestUnknownEndpoint(t *testing.T) {
	c, _ := serve(t, &fakeBackend{})
	err := c.do(context.Background(), "GET", "/v2/nothing", nil)
	if err == nil || !strings.Contains(err.Error(), "no such endpoint") {
		t.Errorf("got %v, want no such endpoint", err)
	}
}
