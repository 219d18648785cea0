package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/keel-os/keel/internal/layout"
	"github.com/keel-os/keel/qemu-test/guest"
	"github.com/keel-os/keel/svcd/api"
)

// settleWithin bounds each wait for svcd to show a fault's outcome.
const settleWithin = 3 * time.Minute

// check runs the cases one after the other, prints one FAULTS line per
// case (ok or FAIL, each ok only once the system is healthy again), then
// FAULTS-END, and powers the machine off.
func check() int {
	ctx := context.Background()
	c := api.NewClient(layout.SvcdSocket)
	ok := true
	for _, cs := range []struct {
		name string
		run  func(context.Context, *api.Client) (string, error)
	}{
		{"onboot-fail", onbootFail},
		{"onboot-hang", onbootHang},
		{"crash-loop", crashLoop},
		{"memory-limit", memoryLimit},
		{"var-full", varFull},
	} {
		detail, err := cs.run(ctx, c)
		if err == nil {
			err = healthy(ctx)
		}
		if err != nil {
			ok = false
			fmt.Printf("FAULTS FAIL %s: %v\n", cs.name, err)
			continue
		}
		fmt.Printf("FAULTS ok %s: %s\n", cs.name, detail)
	}
	fmt.Printf("FAULTS-END ok=%v\n", ok)
	for i := 0; i < 50; i++ {
		if err := c.Poweroff(ctx); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	return 0
}

// waitRow waits until svcd's row for name satisfies done and returns it.
func waitRow(ctx context.Context, c *api.Client, name string, done func(api.Container) bool) (api.Container, error) {
	deadline := time.Now().Add(settleWithin)
	var last api.Container
	for time.Now().Before(deadline) {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		row, err := c.Container(qctx, name)
		cancel()
		if err == nil {
			last = *row
			if done(last) {
				return last, nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return last, fmt.Errorf("%s did not get there within %s: last seen %s", name, settleWithin, describe(last))
}

func describe(r api.Container) string {
	exit := "-"
	if r.ExitCode != nil {
		exit = fmt.Sprint(*r.ExitCode)
	}
	return fmt.Sprintf("state=%s pid=%d exit=%s oomKilled=%v restarts=%d error=%q", r.State, r.Pid, exit, r.OOMKilled, r.Restarts, r.Error)
}

func ended(r api.Container) bool {
	return r.State == "exited" || r.State == "failed" || r.State == "stopped"
}

func exitIs(r api.Container, code int) bool { return r.ExitCode != nil && *r.ExitCode == code }

func onbootFail(ctx context.Context, c *api.Client) (string, error) {
	r, err := waitRow(ctx, c, "fails", ended)
	if err != nil {
		return "", err
	}
	if r.State != "failed" || !exitIs(r, 3) {
		return "", fmt.Errorf("svcctl shows fails as %s, want failed with exit 3", describe(r))
	}
	return describe(r), nil
}

func onbootHang(ctx context.Context, c *api.Client) (string, error) {
	r, err := waitRow(ctx, c, "hang", ended)
	if err != nil {
		return "", err
	}
	if r.State != "failed" || !strings.Contains(r.Error, "timed out") {
		return "", fmt.Errorf("svcctl shows hang as %s, want failed with a timeout", describe(r))
	}
	// The timeout must have killed it, not just given up waiting.
	if pid, err := findArgs("/usr/bin/faultcheck", "hang"); err == nil {
		return "", fmt.Errorf("the hung onboot container still runs as pid %d", pid)
	}
	return describe(r), nil
}

// crashLoop: a service that always exits 1 under restart: on-failure:3 is
// restarted three times with backoff, then left failed.
func crashLoop(ctx context.Context, c *api.Client) (string, error) {
	r, err := waitRow(ctx, c, "crashloop", ended)
	if err != nil {
		return "", err
	}
	if r.State != "failed" || r.Restarts != 3 || !exitIs(r, 1) {
		return "", fmt.Errorf("svcctl shows crashloop as %s, want failed with exit 1 after 3 restarts", describe(r))
	}
	l, err := c.Logs(ctx, "crashloop")
	if err != nil {
		return "", fmt.Errorf("svcctl logs crashloop: %w", err)
	}
	runs := 0
	for _, x := range l.Lines {
		if strings.Contains(x.Text, "crashing on purpose") {
			runs++
		}
	}
	if runs != 4 {
		return "", fmt.Errorf("crashloop's log shows %d runs, want 4 (the first and 3 restarts)", runs)
	}
	return describe(r), nil
}

// oomLine is the kernel's summary line of an OOM kill.
var oomLine = regexp.MustCompile(`oom-kill:constraint=(\w+),.*task_memcg=(\S*?),task=([^,]+),pid=(\d+)`)

// memoryLimit: hog allocated past its memory limit once; the kernel must
// have killed it and nothing else, svcd must say so and have restarted it.
func memoryLimit(ctx context.Context, c *api.Client) (string, error) {
	r, err := waitRow(ctx, c, "hog", func(r api.Container) bool { return r.State == "running" && r.Restarts >= 1 })
	if err != nil {
		return "", err
	}
	if !r.OOMKilled || !exitIs(r, 137) || r.Restarts != 1 {
		return "", fmt.Errorf("svcctl shows hog as %s, want running, last exit 137 oom-killed, 1 restart", describe(r))
	}
	status, code, err := guest.Svcctl("status", "hog")
	if err != nil || code != 0 {
		return "", fmt.Errorf("svcctl status hog: exit %d, %v: %s", code, err, status)
	}
	for _, want := range []string{`Last exit:\s+137 \(oom-killed\)`, `Restarts:\s+1\n`, `State:\s+running`} {
		if !regexp.MustCompile(want).MatchString(status) {
			return "", fmt.Errorf("svcctl status hog does not match %q:\n%s", want, status)
		}
	}
	// The kernel's own account: every OOM kill was of hog, in hog's
	// memory cgroup, because of its limit (not a system-wide OOM).
	recs, err := c.Dmesg(ctx)
	if err != nil {
		return "", fmt.Errorf("svcctl dmesg: %w", err)
	}
	kills := 0
	for _, rec := range recs {
		m := oomLine.FindStringSubmatch(rec.Text)
		if m == nil {
			continue
		}
		kills++
		fmt.Printf("FAULTS info kernel: %s\n", rec.Text)
		if m[1] != "CONSTRAINT_MEMCG" || !strings.Contains(m[2], "hog") || m[3] != "faultcheck" {
			return "", fmt.Errorf("the OOM killer killed %s (pid %s) in %s under %s, want only hog's faultcheck in hog's cgroup under CONSTRAINT_MEMCG", m[3], m[4], m[2], m[1])
		}
	}
	if kills != 1 {
		return "", fmt.Errorf("the kernel logged %d OOM kills, want exactly 1", kills)
	}
	return describe(r), nil
}

// healthy is what must hold after every fault: PID 1 is init, svcd was
// never restarted (it started before the containerd it runs, and
// containerd never needed a restart), no zombie lasts, and every row svcctl
// shows as running has a live process. The faults of the boot overlap (hog
// may be OOM-killed while another case is checked), and svcd hears of an
// exit a moment after it happened, so a row is given a while to catch up.
func healthy(ctx context.Context) error {
	if err := guest.PID1IsInit(); err != nil {
		return err
	}
	if err := guest.NoLastingZombies(); err != nil {
		return err
	}
	deadline := time.Now().Add(catchUpWithin)
	for {
		err := truthful()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// catchUpWithin is how long svcctl may lag behind a process's exit; under
// a loaded emulator containerd takes seconds to report one.
const catchUpWithin = time.Minute

// truthful checks svcctl list against the processes and svcd's own life.
func truthful() error {
	out, code, err := guest.Svcctl("--json", "list")
	var rows []api.Container
	if err != nil || code != 0 || json.Unmarshal([]byte(out), &rows) != nil {
		return fmt.Errorf("svcctl --json list: exit %d, %v: %s", code, err, out)
	}
	for _, r := range rows {
		if r.State == "running" && (r.Pid <= 0 || syscall.Kill(r.Pid, 0) != nil) {
			return fmt.Errorf("svcctl shows %s running as pid %d, which does not exist", r.Name, r.Pid)
		}
		if r.Name == "containerd" && (r.State != "running" || r.Restarts != 0) {
			return fmt.Errorf("containerd is %s: it should have run untouched", describe(r))
		}
		if r.Name == "hello" && r.State != "running" {
			return fmt.Errorf("the bystander service hello is %s, want running", describe(r))
		}
	}
	return svcdNotRestarted()
}

// svcdNotRestarted compares start times: a svcd started after the
// containerd it supervises was restarted by init.
func svcdNotRestarted() error {
	svcd, err := guest.FindProcess("/usr/bin/svcd")
	if err != nil {
		return err
	}
	ctrd, err := guest.FindProcess("/usr/bin/containerd")
	if err != nil {
		return err
	}
	ts, err1 := guest.StartTime(svcd)
	tc, err2 := guest.StartTime(ctrd)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if ts > tc {
		return fmt.Errorf("svcd (pid %d) started after containerd (pid %d): it died and init restarted it", svcd, ctrd)
	}
	return nil
}

// findArgs returns the pid of a process whose argv is exactly args.
func findArgs(args ...string) (int, error) {
	entries, _ := os.ReadDir("/proc")
	want := strings.Join(args, "\x00") + "\x00"
	for _, e := range entries {
		if guest.ReadFile("/proc/"+e.Name()+"/cmdline") == want {
			var pid int
			fmt.Sscan(e.Name(), &pid)
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process runs %q", args)
}
