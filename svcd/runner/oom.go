package runner

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrOOMKilled is wrapped by the error a runner returns when the kernel's
// OOM killer ended the run: the container reached its memory limit (or the
// whole system ran out of memory). The exit code is still returned
// (137, SIGKILL).
var ErrOOMKilled = errors.New("oom-killed")

// sigkillExit is the exit code of a process killed by SIGKILL, which is
// how the OOM killer ends one.
const sigkillExit = 128 + 9

// DefaultCgroupRoot is where cgroup v2 is mounted.
const DefaultCgroupRoot = "/sys/fs/cgroup"

// CgroupOf reads the cgroup v2 path ("0::/path") from a /proc/PID/cgroup
// file.
func CgroupOf(procCgroup string) (string, error) {
	b, err := os.ReadFile(procCgroup)
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", procCgroup, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s has no cgroup v2 entry: is cgroup2 mounted?", procCgroup)
}

// oomWatch remembers a task's memory.events file and its oom_kill count
// when the task started, so that once the task has exited it can tell
// whether the kernel's OOM killer ended it. The count is read from the
// task's own cgroup, which runc keeps until the task is deleted, so it
// names this container's kills and no other process's.
type oomWatch struct {
	events string
	start  uint64
}

// watchOOM starts watching the cgroup of pid (its /proc/PID/cgroup read
// under proc, the cgroup files under root). A task whose cgroup has no
// memory controller cannot be watched and is never reported OOM-killed.
func watchOOM(proc string, pid int, root string) oomWatch {
	cg, err := CgroupOf(filepath.Join(proc, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return oomWatch{}
	}
	events := filepath.Join(root, cg, "memory.events")
	n, err := oomKills(events)
	if err != nil {
		return oomWatch{}
	}
	return oomWatch{events: events, start: n}
}

// check turns the exit code of a task that ended by itself into the error
// the runner returns: one wrapping ErrOOMKilled when the task died of
// SIGKILL and its cgroup counted an OOM kill since it started, else nil.
func (w oomWatch) check(code int) error {
	if w.events == "" || code != sigkillExit {
		return nil
	}
	n, err := oomKills(w.events)
	if err != nil || n <= w.start {
		return nil
	}
	return fmt.Errorf("%w: the kernel's OOM killer ended it at its memory limit (%s: oom_kill %d)", ErrOOMKilled, w.events, n)
}

// oomKills reads the oom_kill count of a cgroup's memory.events.
func oomKills(events string) (uint64, error) {
	f, err := os.Open(events)
	if err != nil {
		return 0, fmt.Errorf("reading OOM kills: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "oom_kill "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("%s: oom_kill %q: %w", events, v, err)
			}
			return n, nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading %s: %w", events, err)
	}
	return 0, fmt.Errorf("%s has no oom_kill line", events)
}
