package segment

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// shortDir is a private directory whose socket paths fit a sockaddr_un
// (t.TempDir's can be long under go test's names).
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "seg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return filepath.Join(d, "segments")
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"lab", true},
		{"k8s-cluster_1.a", true},
		{"", false},
		{".hidden", false},
		{"-flag", false},
		{"a/b", false},
		{"a,b", false},
		{"a b", false},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
	}
	for _, tt := range tests {
		if err := CheckName(tt.name); (err == nil) != tt.ok {
			t.Errorf("CheckName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}

func TestPrepareRefuses(t *testing.T) {
	dir := shortDir(t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := prepare(dir, "lab"); err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Errorf("a world-readable directory: got %v, want an error saying to chmod 700", err)
	}
	long := filepath.Join(t.TempDir(), strings.Repeat("d", 100))
	if _, err := prepare(long, "lab"); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("a socket path over 107 bytes: got %v, want an error", err)
	}
}

// TestListenServe: the socket is 0600 in a 0700 directory, two clients
// speaking QEMU's framing reach each other through it, and a second
// Listen is refused while the switch answers.
func TestListenServe(t *testing.T) {
	dir := shortDir(t)
	ln, err := Listen(dir, "lab")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sv := &Server{Dir: dir, Name: "lab", Switch: &Switch{Logf: t.Logf}}
	served := make(chan error, 1)
	go func() { served <- sv.Serve(ctx, ln) }()

	for path, want := range map[string]os.FileMode{dir: 0o700, Socket(dir, "lab"): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %04o, want %04o", path, got, want)
		}
	}
	if _, err := Listen(dir, "lab"); err == nil || !strings.Contains(err.Error(), "already has a switch") {
		t.Errorf("a second Listen: got %v, want an error", err)
	}

	a, err := net.Dial("unix", Socket(dir, "lab"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := net.Dial("unix", Socket(dir, "lab"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	waitPorts(t, sv.Switch, 2)
	f := frame(broadcast, mac{0x52, 0x54, 0, 0, 0, 1}, "over the socket")
	if _, err := a.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(f))), f...)); err != nil {
		t.Fatal(err)
	}
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	got := make([]byte, 4+len(f))
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatal(err)
	}
	if n := binary.BigEndian.Uint32(got); n != uint32(len(f)) || string(got[4:]) != string(f) {
		t.Errorf("received length %d and %q, want %d and %q", n, got[4:], len(f), f)
	}

	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := os.Stat(Socket(dir, "lab")); !os.IsNotExist(err) {
		t.Errorf("the socket outlived its switch: %v", err)
	}
}

// TestEnsureStartsOnce: VMs started together on one segment start one
// switch between them, and a stale socket (a switch that died) is
// replaced.
func TestEnsureStartsOnce(t *testing.T) {
	dir := shortDir(t)
	var starts atomic.Int32
	start := func() error {
		starts.Add(1)
		return StartInProcess(dir, "lab", t.Logf)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sock, err := Ensure(context.Background(), dir, "lab", start)
			if err == nil && sock != Socket(dir, "lab") {
				t.Errorf("Ensure returned %s, want %s", sock, Socket(dir, "lab"))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := starts.Load(); n != 1 {
		t.Errorf("%d switches started for one segment, want 1", n)
	}

	// A socket file nobody answers on.
	stale, err := net.Listen("unix", Socket(dir, "old"))
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	if _, err := Ensure(context.Background(), dir, "old", func() error { return StartInProcess(dir, "old", t.Logf) }); err != nil {
		t.Errorf("Ensure over a stale socket: %v", err)
	}
}

// TestIdleExit: a switch with Idle set goes, removing its socket, once
// its last port has left; not while a port remains.
func TestIdleExit(t *testing.T) {
	dir := shortDir(t)
	ln, err := Listen(dir, "lab")
	if err != nil {
		t.Fatal(err)
	}
	sv := &Server{Dir: dir, Name: "lab", Switch: &Switch{Logf: t.Logf}, Idle: 200 * time.Millisecond}
	served := make(chan error, 1)
	go func() { served <- sv.Serve(context.Background(), ln) }()
	c, err := net.Dial("unix", Socket(dir, "lab"))
	if err != nil {
		t.Fatal(err)
	}
	waitPorts(t, sv.Switch, 1)
	select {
	case err := <-served:
		t.Fatalf("the switch went with a port attached: %v", err)
	case <-time.After(600 * time.Millisecond):
	}
	c.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the idle switch did not go")
	}
	if _, err := os.Stat(Socket(dir, "lab")); !os.IsNotExist(err) {
		t.Errorf("the idle switch left its socket: %v", err)
	}
}
