// Command chaos is a test-only service for fault injection inside a booted
// Keel system. It kills -9, round after round, a service's process, the
// service's containerd shim, containerd and svcd, and after each kill waits
// for the system to recover: svcd answers, containerd runs, the victim
// service runs again (with the same pid after svcd was killed: svcd must
// re-adopt it, not restart it), no zombie outlives a few seconds and PID 1
// is init. It prints one CHAOS line per kill, a summary per kind and
// CHAOS-END, then powers the machine off. The number of rounds comes from
// keel.chaos=N on the kernel command line (default 2).
package main

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/keel-os/keel/internal/layout"
	"github.com/keel-os/keel/qemu-test/guest"
	"github.com/keel-os/keel/svcd/api"
)

const victim = "victim"

// recoverWithin bounds one recovery under emulation.
const recoverWithin = 90 * time.Second

func main() {
	rounds := roundsFromCmdline(guest.ReadFile("/proc/cmdline"), 2)
	c := api.NewClient(layout.SvcdSocket)
	ctx := context.Background()
	if _, err := waitRunning(ctx, c, expect{}); err != nil {
		fmt.Printf("CHAOS FAIL setup: %v\n", err)
		finish(ctx, c, false)
		return
	}
	kinds := []string{"service", "shim", "containerd", "svcd"}
	times := map[string][]time.Duration{}
	ok := true
	for r := 1; r <= rounds; r++ {
		for _, kind := range kinds {
			d, err := inject(ctx, c, kind)
			if err != nil {
				ok = false
				fmt.Printf("CHAOS FAIL %s round %d: %v\n", kind, r, err)
				continue
			}
			times[kind] = append(times[kind], d)
			fmt.Printf("CHAOS ok %s round %d: recovered in %s\n", kind, r, d.Round(time.Millisecond))
		}
	}
	for _, kind := range kinds {
		fmt.Printf("CHAOS-SUMMARY %s %s\n", kind, summarize(times[kind]))
	}
	finish(ctx, c, ok)
}

// inject kills one thing and waits until the system is whole again.
func inject(ctx context.Context, c *api.Client, kind string) (time.Duration, error) {
	before, err := waitRunning(ctx, c, expect{})
	if err != nil {
		return 0, fmt.Errorf("before the kill: %w", err)
	}
	var target int
	switch kind {
	case "service":
		target = before
	case "shim":
		if target, err = guest.ParentOf(before); err != nil {
			return 0, err
		}
	case "containerd":
		target, err = guest.FindProcess("/usr/bin/containerd")
	case "svcd":
		target, err = guest.FindProcess("/usr/bin/svcd")
	}
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := syscall.Kill(target, syscall.SIGKILL); err != nil {
		return 0, fmt.Errorf("kill -9 %d: %w", target, err)
	}
	want := expect{}
	switch kind {
	case "service", "shim":
		want.notVictim = before // the process is gone: a new one must run
		want.allServices = kind == "shim"
	case "containerd":
		want.notContainerd = target // svcd must notice and start another
	case "svcd":
		want.victim = before // the new svcd re-adopts the running task
		want.notSvcd = target
	}
	if _, err := waitRunning(ctx, c, want); err != nil {
		return 0, err
	}
	d := time.Since(start)
	if err := guest.NoLastingZombies(); err != nil {
		return d, err
	}
	return d, guest.PID1IsInit()
}

// expect is what recovery means after one kill; zero fields are not
// checked.
type expect struct {
	victim        int // the victim must still run as this pid
	notVictim     int // the victim must run, as another pid than this
	notContainerd int // containerd must run, as another pid than this
	notSvcd       int // svcd must run, as another pid than this
	// allServices: every other service must run too (they share the
	// victim's shim, so its kill takes them all down).
	allServices bool
}

// chaosSelf is this service's name: it runs under a shim of its own group
// and is not waited for.
const chaosSelf = "chaos"

// down names a service other than the victim and chaos that is not
// running, or returns "".
func down(list []api.Container) string {
	for _, ct := range list {
		if ct.Phase == "service" && ct.Name != chaosSelf && ct.Name != victim && ct.State != "running" {
			return ct.Name + " is " + ct.State
		}
	}
	return ""
}

// waitRunning waits until svcd answers, containerd is running and the
// victim is running as want says, and returns the victim's pid.
func waitRunning(ctx context.Context, c *api.Client, want expect) (int, error) {
	deadline := time.Now().Add(recoverWithin)
	last := "svcd did not answer"
	for time.Now().Before(deadline) {
		if want.notSvcd != 0 {
			if pid, err := guest.FindProcess("/usr/bin/svcd"); err != nil || pid == want.notSvcd {
				last = "no new svcd yet"
				time.Sleep(200 * time.Millisecond)
				continue
			}
		}
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		list, err := c.Containers(qctx)
		cancel()
		if err != nil {
			last = err.Error()
		} else {
			state := map[string]api.Container{}
			for _, ct := range list {
				state[ct.Name] = ct
			}
			v := state[victim]
			switch {
			case state["containerd"].State != "running":
				last = "containerd is " + state["containerd"].State
			case want.notContainerd != 0 && state["containerd"].Pid == want.notContainerd:
				last = fmt.Sprintf("svcctl still reports the killed containerd %d", want.notContainerd)
			case v.State != "running" || v.Pid == 0:
				last = fmt.Sprintf("%s is %s", victim, v.State)
			case want.victim != 0 && v.Pid != want.victim:
				return 0, fmt.Errorf("%s was restarted (pid %d, was %d): svcd should have re-adopted it", victim, v.Pid, want.victim)
			case want.notVictim != 0 && v.Pid == want.notVictim:
				last = fmt.Sprintf("svcctl still reports the killed pid %d", want.notVictim)
			case !alive(v.Pid):
				last = fmt.Sprintf("svcctl reports pid %d, which does not exist", v.Pid)
			case want.allServices && down(list) != "":
				last = down(list)
			default:
				return v.Pid, nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return 0, fmt.Errorf("not recovered within %s: %s", recoverWithin, last)
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// roundsFromCmdline reads keel.chaos=N.
func roundsFromCmdline(cmdline string, def int) int {
	for _, w := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(w, "keel.chaos="); ok {
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				return n
			}
		}
	}
	return def
}

// summarize gives count, mean and worst of recovery times.
func summarize(ds []time.Duration) string {
	if len(ds) == 0 {
		return "n=0"
	}
	sorted := append([]time.Duration(nil), ds...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return fmt.Sprintf("n=%d mean=%s median=%s max=%s", len(ds),
		(sum / time.Duration(len(ds))).Round(time.Millisecond), sorted[len(sorted)/2].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond))
}

func finish(ctx context.Context, c *api.Client, ok bool) {
	fmt.Printf("CHAOS-END ok=%v\n", ok)
	for i := 0; i < 50; i++ {
		if err := c.Poweroff(ctx); err == nil {
			break
		}
		time.Sleep(time.Second)
	}
	select {}
}
