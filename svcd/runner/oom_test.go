package runner

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeCgroup lays out /proc/PID/cgroup and the cgroup's memory.events the
// way the kernel does, under a temp dir.
func fakeCgroup(t *testing.T, pid, cgroup, events string) (proc, root string) {
	t.Helper()
	dir := t.TempDir()
	proc, root = filepath.Join(dir, "proc"), filepath.Join(dir, "cgroup")
	if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, pid, "cgroup"), []byte("0::"+cgroup+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if events != "" {
		setEvents(t, filepath.Join(root, cgroup), events)
	}
	return proc, root
}

func setEvents(t *testing.T, dir, events string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "memory.events"), []byte(events), 0o644); err != nil {
		t.Fatal(err)
	}
}

func events(oomKill string) string {
	return "low 0\nhigh 0\nmax 12\noom 1\noom_kill " + oomKill + "\noom_group_kill 0\n"
}

func TestOOMWatch(t *testing.T) {
	const cg = "/services.linuxkit/hog"
	for _, tc := range []struct {
		name          string
		before, after string // memory.events oom_kill at start and at exit; "" means no file
		code          int
		wantOOM       bool
	}{
		{"killed by the OOM killer", "0", "1", 137, true},
		{"an earlier kill in a reused cgroup does not count", "2", "2", 137, false},
		{"SIGKILL from elsewhere", "0", "0", 137, false},
		{"a child OOM-killed, the main process exited 1", "0", "1", 1, false},
		{"clean exit", "0", "0", 0, false},
		{"no memory controller", "", "", 137, false},
		{"cgroup gone before the exit was seen", "0", "", 137, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := ""
			if tc.before != "" {
				ev = events(tc.before)
			}
			proc, root := fakeCgroup(t, "42", cg, ev)
			w := watchOOM(proc, 42, root)
			switch tc.after {
			case "":
				os.RemoveAll(filepath.Join(root, cg))
			default:
				setEvents(t, filepath.Join(root, cg), events(tc.after))
			}
			err := w.check(tc.code)
			if got := errors.Is(err, ErrOOMKilled); got != tc.wantOOM {
				t.Errorf("check(%d) = %v; got OOM-killed %v, want %v", tc.code, err, got, tc.wantOOM)
			}
			if tc.wantOOM && !strings.Contains(err.Error(), "oom_kill "+tc.after) {
				t.Errorf("check(%d) = %q, want the count it saw (oom_kill %s)", tc.code, err, tc.after)
			}
		})
	}
}

func TestCgroupOf(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want string
		fails               bool
	}{
		{"v2 only", "0::/services.linuxkit/web\n", "/services.linuxkit/web", false},
		{"hybrid, v2 line last", "1:name=systemd:/x\n0::/a/b\n", "/a/b", false},
		{"v1 only", "4:memory:/x\n", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := CgroupOf(p)
			if (err != nil) != tc.fails || got != tc.want {
				t.Errorf("CgroupOf(%q) = %q, %v; want %q, error %v", tc.content, got, err, tc.want, tc.fails)
			}
		})
	}
	if _, err := CgroupOf(filepath.Join(dir, "missing")); err == nil {
		t.Error("CgroupOf(missing file): got no error, want one")
	}
}
