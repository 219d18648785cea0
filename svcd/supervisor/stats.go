package supervisor

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/keel-os/keel/internal/bootlog"
	"github.com/keel-os/keel/svcd/api"
	"github.com/keel-os/keel/svcd/runner"
)

// Stats reads the cgroup v2 figures of a running container's cgroup,
// found from its main process.
func (s *Supervisor) Stats(name string) (api.Stats, error) {
	c, ok := s.table.Get(name)
	if !ok {
		return api.Stats{}, fmt.Errorf("no container named %q (svcctl list shows them): %w", name, api.ErrNotFound)
	}
	if c.Pid <= 0 {
		return api.Stats{}, fmt.Errorf("%s is %s, not running: no stats: %w", name, c.State, api.ErrConflict)
	}
	root := s.cfg.CgroupRoot
	if root == "" {
		root = runner.DefaultCgroupRoot
	}
	return readStats(name, fmt.Sprintf("/proc/%d/cgroup", c.Pid), root)
}

// readStats finds the v2 cgroup ("0::/path") in a /proc/PID/cgroup file and
// reads its cpu.stat, memory.current and pids.current. A controller that is
// not enabled leaves its figure at 0.
func readStats(name, procCgroup, root string) (api.Stats, error) {
	cg, err := runner.CgroupOf(procCgroup)
	if err != nil {
		return api.Stats{}, err
	}
	st := api.Stats{Name: name, Cgroup: cg}
	dir := filepath.Join(root, st.Cgroup)
	st.MemoryBytes = readUint(filepath.Join(dir, "memory.current"))
	st.Pids = readUint(filepath.Join(dir, "pids.current"))
	if f, err := os.Open(filepath.Join(dir, "cpu.stat")); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "usage_usec "); ok {
				st.CPUUsec, _ = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			}
		}
		f.Close()
	}
	return st, nil
}

func readUint(path string) uint64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v
}

// Timeline returns init's boot log and svcd's events for `svcctl boot`.
func (s *Supervisor) Timeline() api.Boot {
	b := api.Boot{Events: s.table.History()}
	if s.cfg.BootLog == "" {
		b.InitError = "no boot log configured"
		return b
	}
	l, err := bootlog.Read(s.cfg.BootLog)
	if err != nil {
		b.InitError = err.Error()
	} else {
		b.Init = l
	}
	return b
}

// Subscribe streams state changes for the API.
func (s *Supervisor) Subscribe() (<-chan api.Event, func()) { return s.table.Subscribe() }
