package bundle

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/sys/capability"
	"golang.org/x/sys/unix"

	kbundle "github.com/keel-os/keel/internal/bundle"
)

// The tests below run bundles made by Config with the runc that go.mod pins
// (built into build/ by `make binaries`; KEEL_BUILD_DIR overrides where) on
// this host, with a static busybox as the root filesystem: what a mount
// option means is decided by the kernel, so only a real container proves it.
// They need root.

// runcFor returns the path of the pinned runc, skipping the test when it
// cannot run here.
func runcFor(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs containers with runc")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Skip("needs a static /bin/busybox (apt-get install busybox-static)")
	}
	dir := os.Getenv("KEEL_BUILD_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "build")
	}
	runc, err := filepath.Abs(filepath.Join(dir, "runc"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(runc); err != nil {
		t.Skipf("runc not found (run make binaries, or set KEEL_BUILD_DIR): %v", err)
	}
	return runc
}

// runEntry builds the bundle of a service entry (the body of a services
// list item) whose process is `sh -c script`, runs it to completion with
// runc and returns what it printed.
func runEntry(t *testing.T, runc, body, script string) string {
	t.Helper()
	return runEntryWhile(t, runc, body, script, "", nil)
}

// runEntryWhile is runEntry that calls during once the container has
// printed the line marker (when marker is not empty).
func runEntryWhile(t *testing.T, runc, body, script, marker string, during func()) string {
	t.Helper()
	dir := t.TempDir()
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
	for _, l := range []string{"sh", "echo", "cat", "touch", "ls", "wc", "head"} {
		if err := os.Symlink("busybox", filepath.Join(bin, l)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := v1.Config{Entrypoint: []string{"/bin/sh", "-c", script}, Env: []string{"PATH=/bin"}}
	oci, _, err := Config(entry(t, "services", body), nil, cfg, kbundle.PhaseService)
	if err != nil {
		t.Fatal(err)
	}
	// Config has decided the confinement; runc can only grant what this
	// host's own bounding set holds (a sandboxed host may lack some).
	if c := oci.Process.Capabilities; c != nil {
		held := hostCaps(t)
		for _, set := range []*[]string{&c.Bounding, &c.Effective, &c.Inheritable, &c.Permitted, &c.Ambient} {
			*set = slices.DeleteFunc(slices.Clone(*set), func(name string) bool { return !held[name] })
		}
	}
	js, err := Marshal(oci)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("keel-bundle-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	cmd := exec.Command(runc, "--root", filepath.Join(dir, "state"), "run", "--bundle", dir, id)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if marker != "" && sc.Text() == marker {
			during()
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("runc run: %v\n%s%s\nconfig.json:\n%s", err, out.String(), stderr.String(), js)
	}
	return out.String()
}

// probe is a shell snippet that prints "NAME=allowed" when cmd succeeds and
// "NAME=refused" when it fails.
func probe(name, cmd string) string {
	return fmt.Sprintf("if { %s; } 2>/dev/null; then echo %s=allowed; else echo %s=refused; fi; ", cmd, name, name)
}

// checkProbes compares the NAME=VALUE lines of out with want.
func checkProbes(t *testing.T, out string, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
			got[k] = v
		}
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %q, want %q (output:\n%s)", k, got[k], w, out)
		}
	}
}

// TestRuncSysfsReadOnly: a service without capabilities, as root, must not
// write a root-owned sysfs file; a privileged one may (Docker's rule), and
// so may one that binds /sys:/sys. The value written is the one already
// selected, so the host is unchanged even where the write goes through.
func TestRuncSysfsReadOnly(t *testing.T) {
	runc := runcFor(t)
	const file = "/sys/kernel/mm/transparent_hugepage/enabled"
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Skipf("needs %s: %v", file, err)
	}
	cur := selected(string(raw))
	if cur == "" {
		t.Skipf("no selected value in %s: %q", file, raw)
	}
	script := probe("sysfs", fmt.Sprintf("echo %s > %s", cur, file))
	for _, tc := range []struct {
		name, body, want string
	}{
		{"default", "", "refused"},
		{"CAP_SYS_ADMIN", "capabilities: [CAP_SYS_ADMIN]", "refused"},
		{"privileged", "capabilities: [all]", "allowed"},
		{"explicit bind", "binds: [\"/sys:/sys\"]", "allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkProbes(t, runEntry(t, runc, tc.body, script), map[string]string{"sysfs": tc.want})
		})
	}
}

// selected returns the bracketed choice of a sysfs selector file
// ("always [madvise] never" gives "madvise").
func selected(s string) string {
	_, after, ok := strings.Cut(s, "[")
	if !ok {
		return ""
	}
	v, _, ok := strings.Cut(after, "]")
	if !ok {
		return ""
	}
	return v
}

// TestRuncReadOnlyRecursiveBind: a read-only bind of a directory holding a
// mount (here a tmpfs, as /run is below /) must be read-only all the way
// down; without ro the tree stays writable.
func TestRuncReadOnlyRecursiveBind(t *testing.T) {
	runc := runcFor(t)
	host := t.TempDir()
	sub := filepath.Join(host, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mounting a tmpfs below the bind source: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	script := probe("top", "touch /host/top") + probe("below", "touch /host/sub/below")
	for _, tc := range []struct {
		name, body string
		want       map[string]string
	}{
		{"ro bind", fmt.Sprintf("binds: [\"%s:/host:ro\"]", host), map[string]string{"top": "refused", "below": "refused"}},
		// As pkgs/node_exporter binds the host's /.
		{"ro,rslave,rbind bind", fmt.Sprintf("binds: [\"%s:/host:ro,rslave,rbind\"]", host), map[string]string{"top": "refused", "below": "refused"}},
		{"ro mounts entry", fmt.Sprintf("mounts:\n  - {type: bind, source: %s, destination: /host, options: [rbind, ro]}", host),
			map[string]string{"top": "refused", "below": "refused"}},
		{"rw bind", fmt.Sprintf("binds: [\"%s:/host\"]", host), map[string]string{"top": "allowed", "below": "allowed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkProbes(t, runEntry(t, runc, tc.body, script), tc.want)
		})
	}
}

// TestRuncSysAdminKeepsMasks: CAP_SYS_ADMIN alone leaves the masked paths
// empty and /proc/sys read-only; only a privileged container sees them.
// The container has its own UTS namespace, so a domainname write that goes
// through changes nothing on the host.
func TestRuncSysAdminKeepsMasks(t *testing.T) {
	runc := runcFor(t)
	script := `echo interrupts=$(head -c 64 /proc/interrupts | wc -c); ` +
		probe("procsys", "echo keel-test > /proc/sys/kernel/domainname")
	for _, tc := range []struct {
		name, body string
		want       map[string]string
	}{
		{"CAP_SYS_ADMIN", "capabilities: [CAP_SYS_ADMIN]\nuts: new", map[string]string{"interrupts": "0", "procsys": "refused"}},
		{"privileged", "capabilities: [all]\nuts: new", map[string]string{"interrupts": "64", "procsys": "allowed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkProbes(t, runEntry(t, runc, tc.body, script), tc.want)
		})
	}
}

// hostCaps returns the names ("CAP_CHOWN") of the capabilities in this
// process's bounding set.
func hostCaps(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	var bnd uint64
	for _, l := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			if bnd, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64); err != nil {
				t.Fatalf("CapBnd %q: %v", v, err)
			}
		}
	}
	held := map[string]bool{}
	for _, c := range capability.ListKnown() {
		if bnd&(1<<uint(c)) != 0 {
			held["CAP_"+strings.ToUpper(c.String())] = true
		}
	}
	return held
}

// TestRuncReadOnlyBindLateMount: a mount the host makes below the source
// of a read-only bind after the container started must not show up in it
// writable (runc makes the container's mounts slaves of the host's; a
// propagated mount would keep its own flags). The container waits for the
// host's mount, then writes below it.
func TestRuncReadOnlyBindLateMount(t *testing.T) {
	runc := runcFor(t)
	host := t.TempDir()
	late := filepath.Join(host, "late")
	if err := os.Mkdir(late, 0o755); err != nil {
		t.Fatal(err)
	}
	// The source must be a shared mount, as / is on a booted Keel
	// system, for the host's later mounts to propagate at all.
	if err := unix.Mount(host, host, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(host, unix.MNT_DETACH) })
	if err := unix.Mount("", host, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	script := `echo started; i=0; while [ ! -e /host/go ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; ` +
		probe("late", "touch /host/late/x")
	for _, tc := range []struct {
		name, body, want string
	}{
		{"ro bind", fmt.Sprintf("binds: [\"%s:/host:ro\"]", host), "refused"},
		// Asking for rslave is asking for the host's later mounts, as
		// they are: the control that shows the probe can succeed.
		{"ro,rslave bind", fmt.Sprintf("binds: [\"%s:/host:ro,rslave\"]", host), "allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(filepath.Join(host, "go"))
			out := runEntryWhile(t, runc, tc.body, script, "started", func() {
				if err := unix.Mount("tmpfs", late, "tmpfs", 0, "size=1m"); err != nil {
					t.Errorf("mounting a tmpfs below the bind source: %v", err)
				}
				if err := os.WriteFile(filepath.Join(host, "go"), nil, 0o644); err != nil {
					t.Error(err)
				}
			})
			unix.Unmount(late, unix.MNT_DETACH)
			checkProbes(t, out, map[string]string{"late": tc.want})
		})
	}
}

// TestRuncRuntimeSocketsMasked: a container that binds the host's /
// read-only must not find svcd's socket directory in it (read-only does
// not stop connect(2) on a socket); a privileged one does. It puts a file
// in /run/svcd, making the directory if this host has none.
func TestRuncRuntimeSocketsMasked(t *testing.T) {
	runc := runcFor(t)
	const dir = "/run/svcd"
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(dir) })
	}
	marker := filepath.Join(dir, fmt.Sprintf("keel-bundle-test-%d", os.Getpid()))
	if err := os.WriteFile(marker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(marker) })
	script := "echo entries=$(ls -A /host/run/svcd | wc -l)"
	for _, tc := range []struct {
		name, body string
		masked     bool
	}{
		{"bind of /", "binds: [\"/:/host:ro\"]", true},
		{"privileged", "capabilities: [all]\nbinds: [\"/:/host:ro\"]", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := runEntry(t, runc, tc.body, script)
			_, v, _ := strings.Cut(strings.TrimSpace(out), "entries=")
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("output %q: %v", out, err)
			}
			if got := n == 0; got != tc.masked {
				t.Errorf("/host/run/svcd has %d entries: got masked %v, want %v", n, got, tc.masked)
			}
		})
	}
}
