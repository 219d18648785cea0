package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/svcd/api"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The integration test runs the real svcd binary on this host against real
// runc and containerd, with every path in a temp dir. It needs root and the
// binaries `make` puts in build/ (KEEL_BUILD_DIR overrides where).

func buildDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("KEEL_BUILD_DIR")
	if dir == "" {
		dir = filepath.Join("..", "build")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "runc"} {
		if _, err := os.Stat(filepath.Join(abs, b)); err != nil {
			t.Skipf("%s not found in %s (run make, or set KEEL_BUILD_DIR): %v", b, abs, err)
		}
	}
	return abs
}

// makeBundle writes a bundle whose rootfs is a static busybox and whose
// process runs `sh -c script`.
func makeBundle(t testing.TB, dir string, k bundle.Keel, script string) {
	t.Helper()
	bin := filepath.Join(dir, "rootfs", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"sh", "echo", "sleep", "cat", "true"} {
		if err := os.Symlink("busybox", filepath.Join(bin, l)); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"proc", "dev", "sys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, "rootfs", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	spec := specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: []string{"/bin/sh", "-c", script},
			Cwd:  "/",
			Env:  []string{"PATH=/bin"},
		},
		Root:     &specs.Root{Path: "rootfs"},
		Hostname: k.Name,
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: "pid"}, {Type: "mount"}, {Type: "ipc"}, {Type: "uts"}},
		},
	}
	b, err := json.MarshalIndent(&spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	kb, err := bundle.Marshal(&k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, bundle.FileName), kb, 0o644); err != nil {
		t.Fatal(err)
	}
}

// containerdConfig is the config shipped in images (containerd.toml) with
// its paths moved under tmp, so the test checks the real file loads.
func containerdConfig(t testing.TB, tmp string) []byte {
	t.Helper()
	b, err := os.ReadFile("containerd.toml")
	if err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer(
		`"/var/lib/containerd"`, `"`+tmp+`/root"`,
		`"/run/containerd"`, `"`+tmp+`/state"`,
		`"/run/containerd/containerd.sock`, `"`+tmp+`/c.sock`,
	)
	var keep []string
	for _, l := range strings.Split(r.Replace(string(b)), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			keep = append(keep, l)
		}
	}
	out := strings.Join(keep, "\n")
	if strings.Contains(out, "/run/containerd") || strings.Contains(out, "/var/lib") {
		t.Fatalf("containerd.toml has paths the test does not move:\n%s", out)
	}
	return []byte(out)
}

// syncBuffer collects svcd's console output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventually retries cond every 50 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s (last: %s)", what, d, detail)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hostEnv is what the root-only svcd tests and benchmarks share: the
// runtime binaries and a short temporary directory (unix socket paths are
// limited to 108 bytes).
type hostEnv struct{ build, tmp string }

func newHostEnv(t testing.TB, prefix string) hostEnv {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	build := buildDir(t)
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs a static /bin/busybox (apt-get install busybox-static)")
	}
	tmp, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	return hostEnv{build: build, tmp: tmp}
}

// buildSvcd builds svcd (and the other packages named) into tmp/bin.
func (e hostEnv) buildSvcd(t testing.TB, pkgs ...string) string {
	t.Helper()
	bin := filepath.Join(e.tmp, "bin")
	args := append([]string{"build", "-o", bin + "/", "."}, pkgs...)
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("building svcd: %v\n%s", err, out)
	}
	return bin
}

func TestSvcdIntegration(t *testing.T) {
	env := newHostEnv(t, "svcd-it-")
	build, tmp, bin := env.build, env.tmp, env.buildSvcd(t, "./svcctl")

	cdir := filepath.Join(tmp, "containers")
	// Console: what the packer sets for onboot and onshutdown, and for web
	// as a service marked console: true; crashy stays off the console.
	makeBundle(t, filepath.Join(cdir, "onboot", "000-hello"), bundle.Keel{Name: "hello", Phase: bundle.PhaseOnboot, Console: true},
		"echo hello from onboot; echo to stderr >&2")
	makeBundle(t, filepath.Join(cdir, "onboot", "010-fails"), bundle.Keel{Name: "fails", Phase: bundle.PhaseOnboot},
		"exit 3")
	makeBundle(t, filepath.Join(cdir, "onboot", "020-hang"), bundle.Keel{Name: "hang", Phase: bundle.PhaseOnboot,
		Timeout: bundle.Duration(2 * time.Second)}, "sleep 1000")
	makeBundle(t, filepath.Join(cdir, "services", "crashy"), bundle.Keel{Name: "crashy", Phase: bundle.PhaseService},
		"echo crashing; exit 7")
	makeBundle(t, filepath.Join(cdir, "services", "sleepy"), bundle.Keel{Name: "sleepy", Phase: bundle.PhaseService,
		StopTimeout: bundle.Duration(time.Second)}, "exec sleep 1000")
	makeBundle(t, filepath.Join(cdir, "services", "web"), bundle.Keel{Name: "web", Phase: bundle.PhaseService, Console: true},
		"trap 'echo web got TERM; exit 0' TERM; echo web up; while true; do sleep 0.1; done")
	// db becomes healthy a second after it starts; app must wait for that.
	makeBundle(t, filepath.Join(cdir, "services", "db"), bundle.Keel{Name: "db", Phase: bundle.PhaseService,
		StopTimeout: bundle.Duration(time.Second),
		Healthcheck: &bundle.Healthcheck{File: "/tmp/ready", Interval: bundle.Duration(time.Second)}},
		"sleep 1; echo ok > /tmp/ready; exec sleep 1000")
	makeBundle(t, filepath.Join(cdir, "services", "app"), bundle.Keel{Name: "app", Phase: bundle.PhaseService,
		DependsOn: []string{"db"}, StopTimeout: bundle.Duration(time.Second)}, "exec sleep 1000")
	// rt stops on a real-time signal, as the packer writes it; it traps
	// the number (36 = SIGRTMIN+2) so the shell's own naming does not
	// matter. A stop timeout longer than the test's wait shows SIGKILL
	// was not what ended it.
	makeBundle(t, filepath.Join(cdir, "services", "rt"), bundle.Keel{Name: "rt", Phase: bundle.PhaseService,
		StopSignal: "SIGRTMIN+2", StopTimeout: bundle.Duration(time.Minute)},
		"trap 'echo rt got 36; exit 0' 36; echo rt up; while true; do sleep 0.1; done")
	makeBundle(t, filepath.Join(cdir, "onshutdown", "000-bye"), bundle.Keel{Name: "bye", Phase: bundle.PhaseOnshutdown, Console: true},
		"echo bye")

	ctrdConf := filepath.Join(tmp, "containerd.toml")
	if err := os.WriteFile(ctrdConf, containerdConfig(t, tmp), 0o644); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(tmp, "svcd", "svcd.sock")
	var console syncBuffer
	startSvcd := func() (*exec.Cmd, chan struct{}, *error) {
		cmd := exec.Command(filepath.Join(bin, "svcd"),
			"--containers", cdir,
			"--socket", socket,
			"--runc", filepath.Join(build, "runc"),
			"--runc-root", filepath.Join(tmp, "runc"),
			"--containerd", filepath.Join(build, "containerd"),
			"--containerd-config", ctrdConf,
			"--containerd-socket", filepath.Join(tmp, "c.sock"),
			"--fifo-dir", filepath.Join(tmp, "fifo"),
			"--boot-log", "",
		)
		cmd.Env = append(os.Environ(), "PATH="+build+":"+os.Getenv("PATH"))
		cmd.Stdout, cmd.Stderr = &console, &console
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		var exitErr error
		go func() { exitErr = cmd.Wait(); close(exited) }()
		return cmd, exited, &exitErr
	}
	start := time.Now()
	cmd, exited, exitErrp := startSvcd()
	t.Cleanup(func() {
		select {
		case <-exited:
			return
		default:
		}
		// The test failed half-way: let svcd clean up, or kill it.
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
		}
		t.Logf("svcd console:\n%s", console.String())
	})

	eventually(t, 40*time.Second, "svcd prints all services started", func() (bool, string) {
		return strings.Contains(console.String(), "svcd: all services started"), "console so far:\n" + console.String()
	})
	t.Logf("booted in %s", time.Since(start))

	c := api.NewClient(socket)
	ctx := context.Background()
	get := func(name string) api.Container {
		t.Helper()
		cs, err := c.Containers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range cs {
			if x.Name == name {
				return x
			}
		}
		t.Fatalf("no container %s in %+v", name, cs)
		return api.Container{}
	}
	logText := func(name string) string {
		t.Helper()
		l, err := c.Logs(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, x := range l.Lines {
			texts = append(texts, x.Text)
		}
		return strings.Join(texts, "\n")
	}
	exit := func(x api.Container) int {
		if x.ExitCode == nil {
			return -999
		}
		return *x.ExitCode
	}

	t.Run("onboot exits 0 with its output logged", func(t *testing.T) {
		h := get("hello")
		if h.State != "exited" || exit(h) != 0 || h.Phase != "onboot" {
			t.Errorf("hello: got %+v, want onboot exited 0", h)
		}
		if l := logText("hello"); !strings.Contains(l, "hello from onboot") || !strings.Contains(l, "to stderr") {
			t.Errorf("hello logs: got %q, want stdout and stderr lines", l)
		}
		if !strings.Contains(console.String(), "hello: hello from onboot\n") || !strings.Contains(console.String(), "svcd: onboot hello exited 0\n") {
			t.Errorf("console lacks hello's output or marker")
		}
	})
	t.Run("failing onboot is recorded", func(t *testing.T) {
		if f := get("fails"); f.State != "failed" || exit(f) != 3 {
			t.Errorf("fails: got %+v, want failed exit 3", f)
		}
	})
	t.Run("hanging onboot is killed at its timeout", func(t *testing.T) {
		h := get("hang")
		if h.State != "failed" || !strings.Contains(h.Error, "timed out") {
			t.Errorf("hang: got %+v, want failed with a timeout", h)
		}
	})
	t.Run("containerd runs", func(t *testing.T) {
		x := get("containerd")
		if x.State != "running" || x.Pid <= 0 || x.Phase != "system" {
			t.Errorf("containerd: got %+v, want system running with a pid", x)
		}
	})
	var webPid int
	t.Run("service runs with a pid", func(t *testing.T) {
		w := get("web")
		if w.State != "running" || w.Pid <= 0 || w.Phase != "service" || w.StartedAt == nil {
			t.Fatalf("web: got %+v, want service running with a pid", w)
		}
		webPid = w.Pid
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", webPid)); err != nil {
			t.Errorf("web pid %d does not exist: %v", webPid, err)
		}
		eventually(t, 5*time.Second, "web output in its log", func() (bool, string) {
			l := logText("web")
			return strings.Contains(l, "web up"), l
		})
		if !strings.Contains(console.String(), fmt.Sprintf("svcd: service web running pid %d\n", webPid)) {
			t.Errorf("console lacks the web running marker")
		}
	})
	// Every service's task runs under one runc v2 shim (the runner's
	// ShimGroup): the parent of each container's init is the same shim.
	t.Run("services share one shim", func(t *testing.T) {
		shims := map[string]int{}
		for _, name := range []string{"web", "sleepy", "db"} {
			eventually(t, 20*time.Second, name+" running", func() (bool, string) {
				x := get(name)
				return x.State == "running" && x.Pid > 0, fmt.Sprintf("%+v", x)
			})
			shims[name] = parentPid(t, get(name).Pid)
		}
		if shims["web"] != shims["sleepy"] || shims["web"] != shims["db"] {
			t.Errorf("shim pid per service: got %v, want one shim for all", shims)
		}
		argv, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", shims["web"]))
		if !strings.Contains(string(argv), "containerd-shim-runc-v2") {
			t.Errorf("parent of web (pid %d) runs %q, want containerd-shim-runc-v2", shims["web"], argv)
		}
	})
	t.Run("crashing service is restarted", func(t *testing.T) {
		eventually(t, 10*time.Second, "crashy restarted twice", func() (bool, string) {
			x := get("crashy")
			return x.Restarts >= 2 && exit(x) == 7, fmt.Sprintf("%+v", x)
		})
		if n := strings.Count(logText("crashy"), "crashing"); n < 2 {
			t.Errorf("crashy logs: got %d runs, want >= 2", n)
		}
		if strings.Contains(console.String(), "crashy: crashing") {
			t.Errorf("crashy's output reached the console; a service without console: true is kept off it")
		}
	})
	t.Run("containerd is restarted when it dies", func(t *testing.T) {
		old := get("containerd")
		if err := syscall.Kill(old.Pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		eventually(t, 15*time.Second, "containerd running again", func() (bool, string) {
			x := get("containerd")
			return x.State == "running" && x.Pid != old.Pid && x.Restarts == old.Restarts+1, fmt.Sprintf("%+v", x)
		})
		// A service keeps running or is brought back once containerd is.
		eventually(t, 15*time.Second, "web running after containerd restart", func() (bool, string) {
			w := get("web")
			return w.State == "running" && w.Pid > 0, fmt.Sprintf("%+v", w)
		})
		webPid = get("web").Pid
	})
	t.Run("svcctl list", func(t *testing.T) {
		out, err := exec.Command(filepath.Join(bin, "svcctl"), "--socket", socket, "list").CombinedOutput()
		if err != nil {
			t.Fatalf("svcctl list: %v\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if !strings.HasPrefix(lines[0], "NAME") || len(lines) != 12 {
			t.Errorf("svcctl list: got\n%s\nwant a header and 11 rows", out)
		}
	})
	t.Run("dependent starts after its dependency is healthy", func(t *testing.T) {
		eventually(t, 20*time.Second, "app running", func() (bool, string) {
			a := get("app")
			return a.State == "running", fmt.Sprintf("%+v", a)
		})
		var healthyAt, appAt time.Time
		for _, e := range timelineEvents(t, c) {
			if e.Name == "db" && e.Health == "healthy" && healthyAt.IsZero() {
				healthyAt = e.Time
			}
			if e.Name == "app" && e.State == "running" && appAt.IsZero() {
				appAt = e.Time
			}
		}
		if healthyAt.IsZero() || appAt.Before(healthyAt) {
			t.Errorf("app started at %s, db healthy at %s: want app after db healthy", appAt, healthyAt)
		}
		// An earlier subtest kills containerd, so db may still be coming
		// back from that: wait for it rather than sample it once.
		eventually(t, 30*time.Second, "db healthy", func() (bool, string) {
			d := get("db")
			return d.Health == "healthy", fmt.Sprintf("%+v", d)
		})
	})
	// The shared shim dying takes every service down at once: svcd must
	// notice each exit and restart each (restart "always" by default).
	t.Run("shared shim killed: every service comes back", func(t *testing.T) {
		before := map[string]api.Container{}
		for _, name := range []string{"web", "sleepy", "db", "app"} {
			eventually(t, 20*time.Second, name+" running", func() (bool, string) {
				x := get(name)
				return x.State == "running" && x.Pid > 0, fmt.Sprintf("%+v", x)
			})
			before[name] = get(name)
		}
		shim := parentPid(t, before["web"].Pid)
		if err := syscall.Kill(shim, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for name, b := range before {
			eventually(t, 30*time.Second, name+" restarted after its shim died", func() (bool, string) {
				x := get(name)
				return x.State == "running" && x.Pid != b.Pid && x.Restarts > b.Restarts, fmt.Sprintf("%+v", x)
			})
		}
		if got := parentPid(t, get("web").Pid); got == shim {
			t.Errorf("web's shim after the kill: got the killed pid %d, want a new shim", got)
		}
		webPid = get("web").Pid
	})
	t.Run("svcctl stop and start", func(t *testing.T) {
		if err := c.Stop(ctx, "sleepy"); err != nil {
			t.Fatal(err)
		}
		if s := get("sleepy"); s.State != "stopped" {
			t.Errorf("sleepy after stop: got %s, want stopped", s.State)
		}
		if err := c.Stop(ctx, "sleepy"); err == nil {
			t.Error("stopping a stopped service: got no error, want a conflict")
		}
		if err := c.Start(ctx, "sleepy"); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "sleepy running again", func() (bool, string) {
			s := get("sleepy")
			return s.State == "running", fmt.Sprintf("%+v", s)
		})
	})
	t.Run("service stops on its real-time stop signal", func(t *testing.T) {
		eventually(t, 10*time.Second, "rt up", func() (bool, string) {
			return strings.Contains(logText("rt"), "rt up"), fmt.Sprintf("%+v", get("rt"))
		})
		stopAt := time.Now()
		if err := c.Stop(ctx, "rt"); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(stopAt); took > 20*time.Second {
			t.Errorf("stopping rt took %s: the stop signal did not end it", took)
		}
		r := get("rt")
		if r.State != "stopped" || exit(r) != 0 {
			t.Errorf("rt after stop: got %+v, want stopped with exit 0 (its trap ran)", r)
		}
		if l := logText("rt"); !strings.Contains(l, "rt got 36") {
			t.Errorf("rt logs: got %q, want its trap's line for signal 36 (SIGRTMIN+2)", l)
		}
	})
	t.Run("svcd killed and restarted adopts running services", func(t *testing.T) {
		before := get("web")
		ctrdBefore := get("containerd")
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-exited
		cmd, exited, exitErrp = startSvcd()
		eventually(t, 40*time.Second, "restarted svcd lists web running", func() (bool, string) {
			cs, err := c.Containers(ctx)
			if err != nil {
				return false, err.Error()
			}
			for _, x := range cs {
				if x.Name == "web" {
					return x.State == "running", fmt.Sprintf("%+v", x)
				}
			}
			return false, "no web"
		})
		if after := get("web"); after.Pid != before.Pid {
			t.Errorf("web pid after svcd restart: got %d, want %d (unchanged)", after.Pid, before.Pid)
		}
		if x := get("containerd"); x.Pid != ctrdBefore.Pid {
			t.Errorf("containerd pid after svcd restart: got %d, want %d (adopted)", x.Pid, ctrdBefore.Pid)
		}
		if h := get("hello"); h.State != "skipped" {
			t.Errorf("onboot hello after svcd restart: got %s, want skipped", h.State)
		}
		webPid = get("web").Pid
	})

	sleepy := get("sleepy")
	_ = start
	stopAt := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if *exitErrp != nil {
			t.Fatalf("svcd exit: got %v, want 0\n%s", *exitErrp, console.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("svcd did not exit 40s after SIGTERM\n%s", console.String())
	}
	t.Logf("shut down in %s", time.Since(stopAt))
	con := console.String()
	// Only the last svcd's shutdown counts.
	con = con[strings.LastIndex(con, "svcd: received"):]
	before := [][2]string{
		{"svcd: service app stopped", "svcd: stopping service db"},
		{"svcd: service web stopped", "bye: bye"},
		{"svcd: service sleepy stopped", "bye: bye"},
		{"svcd: service db stopped", "bye: bye"},
		{"svcd: onshutdown bye exited 0", "svcd: stopping containerd"},
		{"svcd: containerd stopped", "svcd: shutdown complete"},
	}
	for _, b := range before {
		i, j := strings.Index(con, b[0]), strings.Index(con, b[1])
		if i < 0 || j < 0 || i > j {
			t.Errorf("console: want %q before %q (at %d, %d)", b[0], b[1], i, j)
		}
	}
	if !strings.Contains(con, "web: web got TERM") {
		t.Errorf("web did not get its stop signal")
	}
	for _, pid := range []int{webPid, sleepy.Pid} {
		if pid > 0 {
			if err := syscall.Kill(pid, 0); err == nil {
				t.Errorf("pid %d still alive after shutdown", pid)
			}
		}
	}
	if _, err := os.Stat(socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("svcd console:\n%s", con)
	}
}

// parentPid returns the parent pid of pid, from /proc/PID/stat.
func parentPid(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name (in parentheses) may hold spaces: fields start
	// after the last ')'; state then ppid.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 2 {
		t.Fatalf("/proc/%d/stat: got %q, want state and ppid after the name", pid, s)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("/proc/%d/stat ppid: %v", pid, err)
	}
	return ppid
}

// timelineEvents returns svcd's recorded events.
func timelineEvents(t *testing.T, c *api.Client) []api.Event {
	t.Helper()
	b, err := c.Boot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return b.Events
}
