// Command benchcheck is the test-only service `make bench` boots with the
// example: once every other container has settled it prints, on one console
// line after "BENCH-DATA ", svcd's boot timeline (init's steps and svcd's
// events, on the guest's boot clock), MemTotal and MemAvailable, and the
// resident memory of init, svcd and containerd; then it powers off.
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
	// Shims is how many containerd-shim-runc-v2 processes run; RSSKB and
	// AnonKB["shims"] are their sum.
	Shims int `json:"shims"`
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
	d := &Data{Boot: boot, RSSKB: map[string]int{}, AnonKB: map[string]int{}}
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
		}
	}
	for _, pid := range findAll("/usr/bin/containerd-shim-runc-v2") {
		st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		d.Shims++
		d.RSSKB["shims"] += int(meminfo(string(st), "VmRSS"))
		d.AnonKB["shims"] += int(meminfo(string(st), "RssAnon"))
	}
	return d, nil
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
