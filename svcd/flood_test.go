package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/svcd/api"
)

// tailBuffer keeps only the last bytes written to it and counts the rest,
// so a flooding service's console echo costs the test no memory.
type tailBuffer struct {
	mu    sync.Mutex
	total int
	last  []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total += len(p)
	b.last = append(b.last, p...)
	if len(b.last) > 64<<10 {
		b.last = append([]byte(nil), b.last[len(b.last)-32<<10:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("(%d bytes in all, the last ones:)\n%s", b.total, b.last)
}

// vmRSS reads a process's resident set size in kB.
func vmRSS(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatalf("no VmRSS for pid %d", pid)
	return 0
}

// TestLogFlood runs svcd with a service printing as fast as it can and
// checks that the in-memory ring stays within its line and byte bounds,
// that svcd's memory does not grow with the output, and that the log files
// rotate within their size and count.
func TestLogFlood(t *testing.T) {
	env := newHostEnv(t, "svcd-flood-")
	build, tmp, bin := env.build, env.tmp, env.buildSvcd(t)
	cdir := filepath.Join(tmp, "containers")
	// 100-byte lines as fast as busybox can print them.
	line := strings.Repeat("x", 90)
	makeBundle(t, filepath.Join(cdir, "services", "flood"), bundle.Keel{Name: "flood", Phase: bundle.PhaseService,
		StopTimeout: bundle.Duration(time.Second)}, "i=0; while true; do i=$((i+1)); echo \"$i "+line+"\"; done")
	ctrdConf := filepath.Join(tmp, "containerd.toml")
	if err := os.WriteFile(ctrdConf, containerdConfig(t, tmp), 0o644); err != nil {
		t.Fatal(err)
	}
	const (
		maxLines  = 500
		maxBytes  = 32 << 10
		fileBytes = 128 << 10
		keep      = 2
	)
	logDir := filepath.Join(tmp, "log")
	socket := filepath.Join(tmp, "svcd", "svcd.sock")
	var console tailBuffer
	cmd := exec.Command(filepath.Join(bin, "svcd"),
		"--containers", cdir, "--socket", socket,
		"--runc", filepath.Join(build, "runc"), "--runc-root", filepath.Join(tmp, "runc"),
		"--containerd", filepath.Join(build, "containerd"), "--containerd-config", ctrdConf,
		"--containerd-socket", filepath.Join(tmp, "c.sock"), "--fifo-dir", filepath.Join(tmp, "fifo"),
		"--boot-log", "",
		"--log-lines", strconv.Itoa(maxLines), "--log-bytes", strconv.Itoa(maxBytes),
		"--log-dir", logDir, "--log-file-bytes", strconv.Itoa(fileBytes), "--log-files", strconv.Itoa(keep),
	)
	cmd.Env = append(os.Environ(), "PATH="+build+":"+os.Getenv("PATH"))
	cmd.Stdout, cmd.Stderr = &console, &console
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("svcd exit: got %v, want 0", err)
			}
		case <-time.After(40 * time.Second):
			cmd.Process.Kill()
			t.Errorf("svcd did not exit 40 s after SIGTERM")
		}
		if t.Failed() {
			t.Logf("svcd console %s", console.String())
		}
	}()

	c := api.NewClient(socket)
	ctx := context.Background()
	var logs *api.Logs
	eventually(t, 60*time.Second, "the ring wraps", func() (bool, string) {
		l, err := c.Logs(ctx, "flood")
		if err != nil {
			return false, err.Error()
		}
		logs = l
		return len(l.Lines) > 0 && l.Lines[0].Seq > 10*maxLines, fmt.Sprintf("%d lines", len(l.Lines))
	})
	rss0 := vmRSS(t, cmd.Process.Pid)
	first := logs.Lines[len(logs.Lines)-1].Seq
	// Let it flood a while longer, checking the bounds as it goes.
	var rssMax int
	for i := 0; i < 10; i++ {
		time.Sleep(300 * time.Millisecond)
		l, err := c.Logs(ctx, "flood")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, x := range l.Lines {
			n += len(x.Text)
		}
		if len(l.Lines) > maxLines || n > maxBytes {
			t.Fatalf("ring holds %d lines and %d bytes, want at most %d and %d", len(l.Lines), n, maxLines, maxBytes)
		}
		logs = l
		rssMax = max(rssMax, vmRSS(t, cmd.Process.Pid))
	}
	written := logs.Lines[len(logs.Lines)-1].Seq
	t.Logf("flood printed %d lines (%d in the last 3 s); svcd VmRSS %d kB when the ring was full, at most %d kB after",
		written, written-first, rss0, rssMax)
	if written-first < 1000 {
		t.Fatalf("flood printed only %d lines in 3 s: the test did not flood", written-first)
	}
	// Garbage-collected memory moves a little; a leak of the output would
	// be megabytes per second here.
	if rssMax > rss0+16<<10 {
		t.Errorf("svcd VmRSS grew from %d kB to %d kB while the service flooded", rss0, rssMax)
	}

	ents, err := os.ReadDir(logDir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
		info, _ := e.Info()
		if strings.HasPrefix(e.Name(), "flood.log") && info.Size() > fileBytes {
			t.Errorf("%s: %d bytes, want at most %d", e.Name(), info.Size(), fileBytes)
		}
	}
	for _, want := range []string{"flood.log", "flood.log.1", "flood.log.2", "svcd.log"} {
		if !strings.Contains(" "+strings.Join(names, " ")+" ", " "+want+" ") {
			t.Errorf("log dir: got %v, want %s in it", names, want)
		}
	}
	if strings.Contains(strings.Join(names, " "), "flood.log.3") {
		t.Errorf("log dir: got %v, want at most %d rotated files", names, keep)
	}
}
