package main

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock hands out timers the test fires by hand.
type fakeClock struct {
	timers chan chan time.Time
}

func (c *fakeClock) after(time.Duration) <-chan time.Time {
	t := make(chan time.Time, 1)
	c.timers <- t
	return t
}

func TestDelayedCoalesces(t *testing.T) {
	clock := &fakeClock{timers: make(chan chan time.Time)}
	ran := make(chan int, 10)
	n := 0
	release := make(chan struct{})
	a := newDelayed(10*time.Second, clock.after, func() {
		n++
		ran <- n
		<-release
	})

	// Three deletes before the delay ends: one run.
	a.Trigger()
	timer := <-clock.timers
	a.Trigger()
	a.Trigger()
	timer <- time.Time{}
	if got := <-ran; got != 1 {
		t.Fatalf("got run %d, want 1", got)
	}
	// A delete while the command runs gets a run of its own afterwards.
	a.Trigger()
	release <- struct{}{}
	timer = <-clock.timers
	timer <- time.Time{}
	if got := <-ran; got != 2 {
		t.Fatalf("got run %d, want 2", got)
	}
	release <- struct{}{}
	select {
	case <-clock.timers:
		t.Fatal("a third countdown started with no delete to cover")
	case got := <-ran:
		t.Fatalf("got run %d, want no more runs", got)
	default:
	}
}

func TestFollow(t *testing.T) {
	tests := []struct {
		name    string
		stream  string
		want    int
		wantErr string
	}{
		{"image deletes", `{"Type":"image","Action":"delete","id":"sha256:1"}
{"Type":"container","Action":"destroy"}
{"Type":"image","Action":"pull"}

{"Type":"image","Action":"delete"}
`, 2, "EOF"},
		{"garbage", "{\"Type\":\"image\",\"Action\":\"delete\"}\nnot json\n", 1, "reading an event"},
		{"an endless line", strings.Repeat("x", maxEvent+1), 0, "token too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := 0
			err := follow(strings.NewReader(tt.stream), func() { got++ })
			if got != tt.want {
				t.Errorf("got %d triggers, want %d", got, tt.want)
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// serveDocker answers GET /v1.24/events on a unix socket with server's
// Server header and body's lines.
func serveDocker(t *testing.T, server, body string) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.24/events" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Server", server)
		io.WriteString(w, body)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return sock
}

func TestDockerEvents(t *testing.T) {
	sock := serveDocker(t, "Docker/24.0.7 (linux)", `{"Type":"image","Action":"delete"}`+"\n")
	body, err := dockerEvents(sock)(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	got := 0
	if err := follow(body, func() { got++ }); !errors.Is(err, io.EOF) || got != 1 {
		t.Errorf("got %d triggers and %v, want 1 and EOF", got, err)
	}

	other := serveDocker(t, "nginx", "")
	if _, err := dockerEvents(other)(context.Background()); err == nil || !strings.Contains(err.Error(), "not Docker") {
		t.Errorf("a server that is not Docker: got %v, want an error saying so", err)
	}
	if _, err := dockerEvents(filepath.Join(t.TempDir(), "none"))(context.Background()); err == nil || !strings.Contains(err.Error(), "cannot reach Docker") {
		t.Errorf("no socket: got %v, want cannot reach Docker", err)
	}
}

func TestWatchReconnects(t *testing.T) {
	// The stream fails once, then gives a delete and ends; watch keeps going
	// until the context ends.
	var mu sync.Mutex
	opens := 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func(context.Context) (io.ReadCloser, error) {
		mu.Lock()
		defer mu.Unlock()
		opens++
		if opens == 1 {
			return nil, errors.New("cannot reach Docker")
		}
		return io.NopCloser(strings.NewReader(`{"Type":"image","Action":"delete"}` + "\n")), nil
	}
	triggered := make(chan struct{}, 10)
	done := make(chan struct{})
	go func() {
		watch(ctx, open, func() { triggered <- struct{}{} }, time.Millisecond)
		close(done)
	}()
	<-triggered
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if opens < 2 {
		t.Errorf("got %d connection attempts, want at least 2", opens)
	}
}
