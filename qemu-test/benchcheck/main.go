// Command benchcheck is the test-only service `make bench` boots with the
// example: once every other container has settled it prints, on one console
// line after "BENCH-DATA ", svcd's boot timeline (init's steps and svcd's
// events, on the guest's boot clock), MemTotal and MemAvailable, the
// resident memory of init, svcd and containerd, and the CPU time the boot
// took; then it powers off.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/keel-os/keel/internal/layout"
	"github.com/keel-os/keel/svcd/api"
)

// Data is what benchcheck reports.
type Data struct {
	Boot           *api.Boot      `json:"boot"`
	MemTotalKB     int64          `json:"memTotalKB"`
	MemAvailableKB int64          `json:"memAvailableKB"`
	RSSKB          map[string]int `json:"rssKB"`
	// AnonKB is the anonymous part of each RSS (RssAnon): the memory the
	// process costs. The rest is its program file's pages, which live in
	// the initramfs (RAM) whether mapped or not.
	AnonKB map[string]int `json:"anonKB"`
	// Shims is how many containerd-shim-runc-v2 processes run; RSSKB,
	// AnonKB and CPUMs["shims"] are their sum.
	Shims int `json:"shims"`
	// BusyMs is the CPU time all the guest's CPUs spent not idle since the
	// kernel started (/proc/stat), UptimeMs the time since, CPUs their
	// number: under TCG the boot is bound by CPU, so this is its cost.
	BusyMs   int64 `json:"busyMs"`
	UptimeMs int64 `json:"uptimeMs"`
	CPUs     int   `json:"cpus"`
	// CPUMs is the CPU time (user and system) of init, svcd, containerd
	// and the shims, each with that of its children it reaped: svcd's
	// includes the onboot containers' runc, containerd's the shims' start,
	// the shims' the runc that made each service.
	CPUMs map[string]int64 `json:"cpuMs"`
}

func main() {
	self := os.Getenv("BENCH_SELF")
	if self == "" {
		self = "benchcheck"
	}
	c := api.NewClient(layout.SvcdSocket)
	ctx := context.Background()
	if err := waitSettled(ctx, c, self, 3*time.Minute); err != nil {
		fmt.Println("BENCH-FAIL", err)
	} else if d, err := collect(ctx, c); err != nil {
		fmt.Println("BENCH-FAIL", err)
	} else {
		b, _ := json.Marshal(d)
		fmt.Printf("BENCH-DATA %s\n", b)
	}
	for i := 0; i < 30; i++ {
		if c.Poweroff(ctx) == nil {
			break
		}
		time.Sleep(time.Second)
	}
	select {}
}

// waitSettled waits until every onboot container has exited and every
// other service runs (and is healthy if it has a health check).
func waitSettled(ctx context.Context, c *api.Client, self string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		list, err := c.Containers(ctx)
		if err == nil && settled(list, self) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("containers did not settle within %s (last error %v)", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func settled(list []api.Container, self string) bool {
	for _, ct := range list {
		switch {
		case ct.Name == self:
		case ct.Phase == "onboot" && ct.State != "exited":
			return false
		case (ct.Phase == "service" || ct.Phase == "system") && ct.State != "running":
			return false
		case ct.Health != "" && ct.Health != "healthy":
			return false
		}
	}
	return true
}

func collect(ctx context.Context, c *api.Client) (*Data, error) {
	boot, err := c.Boot(ctx)
	if err != nil {
		return nil, err
	}
	d := &Data{Boot: boot, RSSKB: map[string]int{}, AnonKB: map[string]int{}, CPUMs: map[string]int64{}}
	if err := cpuTotals(d); err != nil {
		return nil, err
	}
	mem, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return nil, err
	}
	d.MemTotalKB = meminfo(string(mem), "MemTotal")
	d.MemAvailableKB = meminfo(string(mem), "MemAvailable")
	for name, exe := range map[string]string{"init": "/init", "svcd": "/usr/bin/svcd", "containerd": "/usr/bin/containerd"} {
		if pid := find(exe); pid > 0 {
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			d.RSSKB[name] = int(meminfo(string(st), "VmRSS"))
			d.AnonKB[name] = int(meminfo(string(st), "RssAnon"))
			d.CPUMs[name] = cpuMs(pid)
		}
	}
	for _, pid := range findAll("/usr/bin/containerd-shim-runc-v2") {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		d.Shims++
		d.RSSKB["shims"] += int(meminfo(string(st), "VmRSS"))
		d.AnonKB["shims"] += int(meminfo(string(st), "RssAnon"))
		d.CPUMs["shims"] += cpuMs(pid)
	}
	return d, nil
}

// tickMs is the length of a clock tick of /proc/stat and /proc/PID/stat:
// USER_HZ is 100 on every Linux architecture Keel runs on.
const tickMs = 10

// cpuTotals fills the guest's busy CPU time, uptime and CPU count.
func cpuTotals(d *Data) error {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return err
	}
	d.BusyMs, d.CPUs = procStat(string(raw))
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return err
	}
	var s float64
	if _, err := fmt.Sscan(string(up), &s); err != nil {
		return fmt.Errorf("reading /proc/uptime: %w", err)
	}
	d.UptimeMs = int64(s * 1000)
	return nil
}

// procStat returns, from /proc/stat's text, the busy CPU time of all CPUs
// and how many there are.
func procStat(text string) (busyMs int64, cpus int) {
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 8 && f[0] == "cpu":
			// user nice system idle iowait irq softirq steal: all but
			// idle and iowait are busy.
			for _, i := range []int{1, 2, 3, 6, 7, 8} {
				n, _ := strconv.ParseInt(f[i], 10, 64)
				busyMs += n * tickMs
			}
		case len(f) > 0 && strings.HasPrefix(f[0], "cpu"):
			cpus++
		}
	}
	return busyMs, cpus
}

// cpuMs is pid's user and system time with that of its reaped children,
// or 0 when it cannot be read.
func cpuMs(pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	return statCPUMs(string(raw))
}

// statCPUMs reads utime, stime, cutime and cstime (fields 14-17) from a
// /proc/PID/stat line.
func statCPUMs(text string) int64 {
	// The command name may hold spaces and parentheses: the fields
	// start after its last ")".
	i := strings.LastIndex(text, ") ")
	if i < 0 {
		return 0
	}
	f := strings.Fields(text[i+2:])
	if len(f) < 15 {
		return 0
	}
	var ms int64
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ms += n * tickMs
	}
	return ms
}

// meminfo reads "Key:   123 kB" from /proc/meminfo or /proc/PID/status.
func meminfo(text, key string) int64 {
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// find returns the lowest pid whose argv[0] is exe (PID 1 for /init: the
// poweroff/reboot/modprobe uses of /init come and go).
func find(exe string) int {
	if pids := findAll(exe); len(pids) > 0 {
		return pids[0]
	}
	return 0
}

// findAll returns every pid whose argv[0] is exe, lowest first.
func findAll(exe string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Split(string(argv), "\x00")[0] == exe {
			pids = append(pids, pid)
		}
	}
	return pids
}
