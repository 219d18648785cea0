// Command initcheck is a test-only program run inside a booted Keel system
// by qemu-test/init_test.go. It runs in the host's PID namespace, so /proc
// shows init and svcd. Roles (argv[1]):
//
//	storm  fork many children that wait forever (the orphan storm's victims)
//	check  report PID 1's state, then, per initcheck.mode on the kernel
//	       command line: "storm" (default) orphans the storm onto PID 1 and
//	       counts zombies, kills svcd with -9, waits for it to come back and
//	       reboots with /sbin/reboot; "cad" reports block devices and waits
//	       for a hot-added virtio SCSI controller's module, then for the
//	       test to press ctrl-alt-del.
//
// Output goes to /dev/console directly: once svcd is killed, nobody reads
// the container's stdout any more.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var out io.Writer = os.Stdout

func say(format string, args ...any) {
	fmt.Fprintf(out, "KEEL-INITCHECK-"+format+"\n", args...)
}

func main() {
	signal.Ignore(syscall.SIGPIPE)
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		out = f
	}
	role := ""
	if len(os.Args) > 1 {
		role = os.Args[1]
	}
	switch role {
	case "storm":
		storm(200)
	case "check":
		check()
	default:
		say("FAIL unknown role %q", role)
		os.Exit(2)
	}
	// Never exit: svcd would restart us and the checks would run again.
	for {
		time.Sleep(time.Hour)
	}
}

// storm forks n children with the raw fork syscall: they share the
// parent's memory copy-on-write, so hundreds cost almost nothing, and do
// nothing but wait for a signal without touching the Go runtime.
func storm(n int) {
	for i := 0; i < n; i++ {
		pid, _, errno := syscall.RawSyscall(syscall.SYS_FORK, 0, 0, 0)
		if errno != 0 {
			say("FAIL fork: %v", errno)
			return
		}
		if pid == 0 {
			for {
				syscall.RawSyscall(syscall.SYS_PAUSE, 0, 0, 0)
			}
		}
	}
	say("STORM-READY %d", n)
}

func check() {
	mode := "storm"
	if raw, err := os.ReadFile("/proc/cmdline"); err == nil {
		for _, w := range strings.Fields(string(raw)) {
			if v, ok := strings.CutPrefix(w, "initcheck.mode="); ok {
				mode = v
			}
		}
	}
	if !waitFor(3*time.Minute, func() bool { _, err := svcctl("list"); return err == nil }) {
		say("FAIL svcctl list never answered")
		return
	}
	report()
	if mode == "cad" {
		blocks, _ := os.ReadDir("/sys/block")
		var names []string
		for _, b := range blocks {
			names = append(names, b.Name())
		}
		say("BLOCK %s", strings.Join(names, " "))
		// The test hot-adds a virtio SCSI controller: no module drives one
		// at boot, so virtio_scsi appearing proves the uevent listener.
		say("READY-FOR-HOTPLUG")
		ok := waitFor(3*time.Minute, func() bool { _, err := os.Stat("/sys/module/virtio_scsi"); return err == nil })
		say("HOTPLUG virtio_scsi=%v", ok)
		say("READY-FOR-CAD")
		return
	}
	orphanStorm()
	svcdComeback()
	say("REBOOTING")
	if b, err := exec.Command("/sbin/reboot").CombinedOutput(); err != nil {
		say("FAIL /sbin/reboot: %v: %s", err, b)
	}
}

// report prints what the host test reads about PID 1.
func report() {
	status, _ := os.ReadFile("/proc/1/status")
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			say("RSS %s", strings.TrimSpace(v))
		}
	}
	limits, _ := os.ReadFile("/proc/1/limits")
	for _, line := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(line, "Max open files") {
			say("NOFILE %s", strings.Fields(line)[3])
		}
	}
	link, err := os.Readlink("/proc/1/root/etc/resolv.conf")
	say("RESOLV %s %v", link, err)
	mounts, _ := os.ReadFile("/proc/1/mountinfo")
	var points []string
	for _, line := range strings.Split(string(mounts), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && !strings.HasPrefix(f[4], "/containers") && !strings.HasPrefix(f[4], "/run/containerd") && !strings.HasPrefix(f[4], "/var/lib") {
			i := strings.Index(line, " - ")
			fstype := ""
			if i >= 0 {
				fstype = strings.Fields(line[i+3:])[0]
			}
			points = append(points, f[4]+"="+fstype)
		}
	}
	say("MOUNTS %s", strings.Join(points, " "))
	// The topmost "/" and /containers, with their per-mount options.
	opts := map[string]string{}
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 5 && (f[4] == "/" || f[4] == "/containers") {
			opts[f[4]] = strings.Split(f[5], ",")[0]
		}
	}
	say("ROOT %s CONTAINERS %s", opts["/"], opts["/containers"])
	host, _ := os.ReadFile("/proc/sys/kernel/hostname")
	say("HOSTNAME %s", strings.TrimSpace(string(host)))
	boot, _ := os.ReadFile("/run/keel/boot.json")
	say("BOOTJSON %s", strings.Join(strings.Fields(string(boot)), ""))
}

// proc is one line of /proc/PID/stat plus its command line.
type proc struct {
	pid, ppid int
	state     string
	cmdline   string
}

func procs() []proc {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var ps []proc
	for _, p := range stats {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 2 {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		ppid, _ := strconv.Atoi(f[1])
		cmd, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "cmdline"))
		ps = append(ps, proc{pid: pid, ppid: ppid, state: f[0], cmdline: strings.ReplaceAll(string(cmd), "\x00", " ")})
	}
	return ps
}

// orphanStorm makes the storm's processes orphans of PID 1 and counts
// what PID 1 leaves behind: kill the storm's shim (its main process becomes
// init's child), kill the main process (its children become init's), then
// kill them all. Every one must be reaped.
func orphanStorm() {
	var stormers []proc
	if !waitFor(3*time.Minute, func() bool {
		stormers = nil
		for _, p := range procs() {
			if strings.HasPrefix(p.cmdline, "/usr/bin/initcheck storm") && p.state != "Z" {
				stormers = append(stormers, p)
			}
		}
		return len(stormers) >= 201
	}) {
		say("FAIL storm never had 201 processes (%d)", len(stormers))
		return
	}
	pids := map[int]bool{}
	for _, p := range stormers {
		pids[p.pid] = true
	}
	var main proc
	for _, p := range stormers {
		if !pids[p.ppid] {
			main = p
		}
	}
	// Watch only the storm's own /proc entries: a scan of all of /proc is
	// too slow to see the adoption before containerd's cleanup kills them.
	adopted := map[int]bool{}
	watch := func() {
		for pid := range pids {
			if ppidOfStat(pid) == 1 {
				adopted[pid] = true
			}
		}
	}
	syscall.Kill(main.ppid, syscall.SIGKILL) // the shim
	waitFor(time.Minute, func() bool { watch(); return adopted[main.pid] || !alive(pids) })
	syscall.Kill(main.pid, syscall.SIGKILL)
	waitFor(time.Minute, func() bool { watch(); return len(adopted) == len(pids) || !alive(pids) })
	for pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	gone := waitFor(2*time.Minute, func() bool { return !alive(pids) })
	zombies := 0
	for _, p := range procs() {
		if p.state == "Z" && p.ppid == 1 {
			zombies++
		}
	}
	say("STORM adopted=%d total=%d allreaped=%v zombies=%d", len(adopted), len(pids), gone, zombies)
}

// ppidOfStat reads one process's parent, -1 when it is gone or a zombie.
func ppidOfStat(pid int) int {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 || f[0] == "Z" {
		return -1
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// alive reports whether any of pids still has a /proc entry (zombies too:
// only reaping removes it).
func alive(pids map[int]bool) bool {
	for pid := range pids {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			return true
		}
	}
	return false
}

// svcdComeback kills svcd with SIGKILL and waits for init to start a new
// one that answers the API.
func svcdComeback() {
	old := 0
	for _, p := range procs() {
		if p.ppid == 1 && strings.HasPrefix(p.cmdline, "/usr/bin/svcd") {
			old = p.pid
		}
	}
	if old == 0 {
		say("FAIL no svcd found")
		return
	}
	syscall.Kill(old, syscall.SIGKILL)
	newPid := 0
	back := waitFor(3*time.Minute, func() bool {
		for _, p := range procs() {
			if p.ppid == 1 && p.pid != old && p.state != "Z" && strings.HasPrefix(p.cmdline, "/usr/bin/svcd") {
				newPid = p.pid
			}
		}
		if newPid == 0 {
			return false
		}
		_, err := svcctl("list")
		return err == nil
	})
	say("SVCD old=%d new=%d answers=%v", old, newPid, back)
}

func svcctl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	b, err := exec.CommandContext(ctx, "/usr/bin/svcctl", args...).CombinedOutput()
	return string(b), err
}

// waitFor polls cond until it holds or the timeout passes. The timeouts are
// generous: QEMU without KVM on a busy host is slow.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(200 * time.Millisecond)
	}
}
