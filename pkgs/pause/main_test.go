package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReap starts a child that exits at once and reaps it with reap, as
// pause does on SIGCHLD for the orphans it inherits.
func TestReap(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(10 * time.Second)
	var got []int
	for !slices.Contains(got, pid) {
		if time.Now().After(deadline) {
			t.Fatalf("reap: got pids %v, want %d among them", got, pid)
		}
		got = append(got, reap()...)
		time.Sleep(10 * time.Millisecond)
	}
	if more := reap(); len(more) != 0 {
		t.Errorf("reap with no exited child: got %v, want none", more)
	}
}

// TestWait feeds wait the signals the runtime would: SIGCHLD keeps it
// waiting (and reaps), SIGTERM or SIGINT ends it.
func TestWait(t *testing.T) {
	for _, stop := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
		sig := make(chan os.Signal, 3)
		sig <- syscall.SIGCHLD
		sig <- syscall.SIGCHLD
		sig <- stop
		wait(sig)
		if left := len(sig); left != 0 {
			t.Errorf("wait returned on %v with %d signals unread, want 0", stop, left)
		}
	}
}

func TestVersionAndArguments(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "pause")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-v").Output()
	if err != nil || !strings.Contains(string(out), version) {
		t.Errorf("pause -v: got %q, %v; want the version %s", out, err, version)
	}
	if err := exec.Command(bin, "extra").Run(); err == nil {
		t.Error("pause with an argument: got exit 0, want an error")
	}
}
