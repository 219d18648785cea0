// Package guest holds what the in-guest checkers of the QEMU tests (chaos,
// faultcheck) look at after a fault: processes from /proc, zombies, and
// whether PID 1 is still init. It reads the host's /proc, so a checker
// using it runs with `pid: host`.
package guest

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Stat is what the checkers need of /proc/PID/stat.
type Stat struct {
	Comm, State string
	PPid        int
}

// ParseStat reads a /proc/PID/stat line; comm may hold spaces and
// parentheses.
func ParseStat(s string) (Stat, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return Stat{}, errors.New("malformed stat")
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 2 {
		return Stat{}, errors.New("malformed stat")
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return Stat{}, fmt.Errorf("malformed stat: ppid %q: %w", f[1], err)
	}
	return Stat{Comm: s[open+1 : end], State: f[0], PPid: ppid}, nil
}

// pids lists the processes in /proc.
func pids() []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// Zombies lists the processes in state Z, as "pid (comm, parent ppid)".
func Zombies() []string {
	var out []string
	for _, pid := range pids() {
		if st, err := ParseStat(ReadFile(fmt.Sprintf("/proc/%d/stat", pid))); err == nil && st.State == "Z" {
			out = append(out, fmt.Sprintf("%d (%s, parent %d)", pid, st.Comm, st.PPid))
		}
	}
	return out
}

// NoLastingZombies fails if a zombie seen now is still there seconds later
// (a zombie for a moment is normal: its parent has not waited yet).
func NoLastingZombies() error {
	first := Zombies()
	if len(first) == 0 {
		return nil
	}
	time.Sleep(5 * time.Second)
	var lasting []string
	for _, z := range Zombies() {
		for _, f := range first {
			if z == f {
				lasting = append(lasting, z)
			}
		}
	}
	if len(lasting) > 0 {
		return fmt.Errorf("zombies left behind: %s", strings.Join(lasting, ", "))
	}
	return nil
}

// ParentOf returns the parent pid of pid.
func ParentOf(pid int) (int, error) {
	st, err := ParseStat(ReadFile(fmt.Sprintf("/proc/%d/stat", pid)))
	if err != nil {
		return 0, fmt.Errorf("parent of %d: %w", pid, err)
	}
	return st.PPid, nil
}

// FindProcess returns the pid of the process whose argv[0] is exe.
func FindProcess(exe string) (int, error) {
	for _, pid := range pids() {
		argv := strings.Split(ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)), "\x00")
		if argv[0] == exe {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process runs %s", exe)
}

// PID1IsInit fails unless PID 1 still runs /init.
func PID1IsInit() error {
	if cmd := strings.TrimSpace(ReadFile("/proc/1/cmdline")); !strings.HasPrefix(cmd, "/init") {
		return fmt.Errorf("PID 1 runs %q, want /init", cmd)
	}
	return nil
}

// ReadFile returns a file's content, or "" when it cannot be read (a
// process that has just gone).
func ReadFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// StartTime returns when pid started, in clock ticks since boot (field 22
// of /proc/PID/stat): comparable between processes.
func StartTime(pid int) (uint64, error) {
	s := ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	end := strings.LastIndexByte(s, ')')
	if end < 0 {
		return 0, fmt.Errorf("start time of %d: malformed stat %q", pid, s)
	}
	// Fields after comm start at state, field 3; starttime is field 22.
	f := strings.Fields(s[end+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("start time of %d: malformed stat %q", pid, s)
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("start time of %d: %w", pid, err)
	}
	return v, nil
}
