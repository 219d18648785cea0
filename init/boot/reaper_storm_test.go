package boot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The orphan storm runs in a child process of the test: as a subreaper it
// inherits every orphan below it, and its reaper calls wait4(-1), which in
// the test process itself could steal the status of other tests' children.
const (
	roleEnv   = "KEEL_REAPER_ROLE"
	countEnv  = "KEEL_REAPER_COUNT"
	statusEnv = "KEEL_REAPER_STATUS"
)

// TestMain lets the test binary play the storm's roles.
func TestMain(m *testing.M) {
	switch os.Getenv(roleEnv) {
	case "storm":
		os.Exit(stormRole())
	case "spawner":
		os.Exit(spawnerRole())
	}
	os.Exit(m.Run())
}

// stormResult is what the storm process reports on stdout.
type stormResult struct {
	Statuses []int  `json:"statuses"` // exit status each registered waiter got
	Orphans  int64  `json:"orphans"`
	Zombies  int    `json:"zombies"`
	Error    string `json:"error,omitempty"`
}

func TestReaperOrphanStorm(t *testing.T) {
	if _, err := os.Stat("/bin/true"); err != nil {
		t.Skip("needs /bin/true")
	}
	const spawners, perSpawner = 3, 100
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(envWithout(roleEnv, countEnv, statusEnv), roleEnv+"=storm", countEnv+"="+strconv.Itoa(perSpawner), statusEnv+"="+strconv.Itoa(spawners))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("storm process: %v\nstderr:\n%s", err, errOut.String())
	}
	var res stormResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("storm output %q: %v", out.String(), err)
	}
	if res.Error != "" {
		t.Fatalf("storm: %s", res.Error)
	}
	for i, st := range res.Statuses {
		if want := 10 + i; st != want {
			t.Errorf("registered child %d: got exit status %d, want %d (status stolen or mixed up)", i, st, want)
		}
	}
	if len(res.Statuses) != spawners {
		t.Errorf("got %d registered statuses, want %d", len(res.Statuses), spawners)
	}
	if want := int64(spawners * perSpawner); res.Orphans != want {
		t.Errorf("orphans reaped: got %d, want %d", res.Orphans, want)
	}
	if res.Zombies != 0 {
		t.Errorf("zombies left: got %d, want 0", res.Zombies)
	}
}

// stormRole becomes a subreaper, runs init's reaper as init does (on
// SIGCHLD), starts registered spawners that each leave orphans behind, and
// reports what it saw.
func stormRole() int {
	klog = &logger{} // quiet
	res := stormResult{}
	report := func() int {
		json.NewEncoder(os.Stdout).Encode(res)
		return 0
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		res.Error = fmt.Sprintf("prctl(PR_SET_CHILD_SUBREAPER): %v", err)
		return report()
	}
	spawners, _ := strconv.Atoi(os.Getenv(statusEnv))
	r := newReaper(wait4Any)
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, unix.SIGCHLD)
	go func() {
		for range sigchld {
			r.reap()
		}
	}()
	self, _ := os.Executable()
	var chans []<-chan unix.WaitStatus
	for i := 0; i < spawners; i++ {
		env := append(envWithout(roleEnv, statusEnv), roleEnv+"=spawner", statusEnv+"="+strconv.Itoa(10+i))
		_, ch, err := r.spawn(func() (int, error) {
			return syscall.ForkExec(self, []string{self}, &syscall.ProcAttr{Env: env, Files: []uintptr{0, 2, 2}})
		})
		if err != nil {
			res.Error = fmt.Sprintf("start spawner: %v", err)
			return report()
		}
		chans = append(chans, ch)
	}
	// The deadline only turns a hang into a failure; nothing depends on it.
	deadline := time.After(2 * time.Minute)
	for _, ch := range chans {
		select {
		case ws := <-ch:
			res.Statuses = append(res.Statuses, ws.ExitStatus())
		case <-deadline:
			res.Error = "a registered child's status never arrived"
			return report()
		}
	}
	for r.reap() {
		select {
		case <-deadline:
			res.Error = "children still present after two minutes"
			return report()
		case <-time.After(10 * time.Millisecond):
		}
	}
	res.Orphans = r.orphans.Load()
	res.Zombies = countZombies(os.Getpid())
	return report()
}

// spawnerRole starts count short-lived children without waiting for them
// and exits with the given status, orphaning them all.
func spawnerRole() int {
	n, _ := strconv.Atoi(os.Getenv(countEnv))
	status, _ := strconv.Atoi(os.Getenv(statusEnv))
	for i := 0; i < n; i++ {
		// An empty environment: /bin/true must never see a role.
		if _, err := syscall.ForkExec("/bin/true", []string{"true"}, &syscall.ProcAttr{Env: []string{}}); err != nil {
			fmt.Fprintf(os.Stderr, "spawner: %v\n", err)
			return 99
		}
	}
	return status
}

// countZombies counts the zombie children of ppid in /proc.
func countZombies(ppid int) int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	n := 0
	for _, p := range stats {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state, ppid, ...
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) >= 2 && f[0] == "Z" && f[1] == strconv.Itoa(ppid) {
			n++
		}
	}
	return n
}

// envWithout is the environment minus the named variables: Go keeps the
// first of duplicate entries, so appending would not override them.
func envWithout(names ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, k) {
			out = append(out, kv)
		}
	}
	return out
}
