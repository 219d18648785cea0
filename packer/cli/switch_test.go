package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/segment"
)

// TestRunSwitch runs `keel run switch` with the command line keel run
// qemu starts it with: it serves the segment's socket, and goes (removing
// the socket) once the VM that attached has left for the idle time.
func TestRunSwitch(t *testing.T) {
	base, err := os.MkdirTemp("", "seg") // short: a unix socket path
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	dir := filepath.Join(base, "segments")
	var out bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- Run(context.Background(), switchArgs(dir, "lab", 300*time.Millisecond), nil, &out, &out)
	}()
	sock := segment.Socket(dir, "lab")
	var c net.Conn
	deadline := time.Now().Add(20 * time.Second)
	for c == nil {
		if c, err = net.Dial("unix", sock); err != nil {
			if time.Now().After(deadline) {
				t.Fatalf("the switch never served %s: %v", sock, err)
			}
			c = nil
			time.Sleep(50 * time.Millisecond)
		}
	}
	c.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("keel run switch exited %d:\n%s", code, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the idle switch did not go")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket outlived its switch: %v", err)
	}
	if !strings.Contains(out.String(), "serving "+sock) {
		t.Errorf("output %q, want it to say it serves %s", out.String(), sock)
	}
}
