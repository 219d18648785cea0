package qemutest

import (
	"cmp"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/build"
	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/run"
)

// require skips (or, under KEEL_E2E=1, fails) when the boot tests cannot run.
func require(t *testing.T) {
	t.Helper()
	why := ""
	if testing.Short() {
		why = "short mode"
	} else if os.Geteuid() != 0 {
		why = "needs root (apt-get download of the kernel into the cache)"
	} else if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		why = "qemu-system-x86_64 not found: apt-get install qemu-system-x86"
	}
	if why == "" {
		logAccel(t)
		return
	}
	if os.Getenv("KEEL_E2E") == "1" && !testing.Short() {
		t.Fatalf("end-to-end test cannot run: %s", why)
	}
	t.Skip(why)
}

// repoRoot is where go.mod is: tests run in qemu-test/.
func repoRoot(t testing.TB) string {
	t.Helper()
	wd, _ := os.Getwd()
	return filepath.Dir(wd)
}

func cacheDir(root string) string {
	if c := os.Getenv("KEEL_CACHE"); c != "" {
		return c
	}
	return filepath.Join(root, "build", "cache")
}

// buildImage builds the given specs (relative to the repo root) with the
// same code path as `keel build`.
func buildImage(t *testing.T, specs ...string) string {
	t.Helper()
	return buildImageB(t, specs...)
}

// buildImageB is buildImage for tests and benchmarks alike.
func buildImageB(t testing.TB, specs ...string) string {
	t.Helper()
	return buildImageC(t, "", specs...)
}

// buildImageC builds with the given initrd compression ("" for the default).
func buildImageC(t testing.TB, compress string, specs ...string) string {
	t.Helper()
	_, prefix := buildImageR(t, compress, specs...)
	return prefix
}

// buildImageR is buildImageC that also returns what the build wrote.
func buildImageR(t testing.TB, compress string, specs ...string) (*build.Result, string) {
	t.Helper()
	return buildWith(t, build.Options{Compress: compress}, specs...)
}

// buildWith builds with opt's choices (compression, root filesystem); the
// files, cache and outputs are filled in.
func buildWith(t testing.TB, opt build.Options, specs ...string) (*build.Result, string) {
	t.Helper()
	root := repoRoot(t)
	cache, err := image.Open(cacheDir(root))
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, s := range specs {
		files = append(files, filepath.Join(root, s))
	}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	var log strings.Builder
	opt.Files, opt.Dir, opt.Name, opt.Cache = files, dir, "sys", cache
	opt.DebCache, opt.Log = filepath.Join(cacheDir(root), "debs"), &log
	res, err := build.Run(ctx, opt)
	if err != nil {
		t.Fatalf("building %v: %v\n%s", specs, err, log.String())
	}
	t.Logf("built %v for %s in %s", specs, cmp.Or(opt.Arch, "amd64"), time.Since(start).Round(time.Millisecond))
	return res, filepath.Join(dir, "sys")
}

type step struct {
	what string
	re   *regexp.Regexp
}

// expectSteps follows the console to each step's marker and then to QEMU's
// clean exit, logging when each came. Markers from different containers
// may interleave, so each is looked for from the start of the console.
func expectSteps(ctx context.Context, t *testing.T, c *Console, steps []step) {
	t.Helper()
	for _, s := range steps {
		_, at, err := c.Expect(ctx, 0, s.re)
		if err != nil {
			t.Fatalf("%s: %v\nlast console lines:\n%s", s.what, err, c.Tail(60))
		}
		t.Logf("%6.2fs  %s", at.Seconds(), s.what)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("qemu did not exit cleanly after power-off: %v\nlast console lines:\n%s", err, c.Tail(40))
	}
	t.Logf("%6.2fs  qemu exited 0", c.Elapsed().Seconds())
}

// TestMinimalBoots boots examples/minimal.yml plus the check service and
// follows the console through the whole life of the system: init, the onboot
// container, containerd, the services, svcctl's view and a clean power-off.
func TestMinimalBoots(t *testing.T) {
	require(t)
	prefix := buildImage(t, "examples/minimal.yml", "qemu-test/testdata/check.yml")
	checkMinimalBoot(t, &run.QEMU{Prefix: prefix, Mem: 1024}, 4*time.Minute)
}

// checkMinimalBoot boots minimal.yml plus check.yml built at q.Prefix and
// checks the console from init to QEMU's clean exit.
func checkMinimalBoot(t *testing.T, q *run.QEMU, timeout time.Duration) {
	t.Helper()
	ctx, c := bootGuest(t, timeout, *q)

	expectSteps(ctx, t, c, []step{
		// The default root: one squashfs image per part (modules, init,
		// sysctl, getty, hello, check, and the files part holding
		// /sbom.spdx.json), stacked under an overlay.
		{"init mounted the root images", regexp.MustCompile(`init: root: 7 squashfs image\(s\) of /keel-root \(7 on RAM disks, 0 on loop devices\) read-only, under a tmpfs overlay`)},
		{"init started svcd", regexp.MustCompile(`init: .*svcd.*started`)},
		{"onboot sysctl exited 0", regexp.MustCompile(`svcd: onboot sysctl exited 0`)},
		{"containerd ready", regexp.MustCompile(`svcd: containerd ready`)},
		{"svcctl list printed", regexp.MustCompile(`KEEL-CHECK-LIST-END`)},
		{"check passed", regexp.MustCompile(`KEEL-CHECK-OK`)},
		{"svcd shut down", regexp.MustCompile(`svcd: shutdown complete`)},
	})

	if q.Arch == "" || q.Arch == "amd64" {
		noMissingDrivers(ctx, t, c)
	}

	// What svcctl said inside the system.
	begin, _, _ := c.Expect(ctx, 0, regexp.MustCompile(`KEEL-CHECK-LIST-BEGIN`))
	end, _, _ := c.Expect(ctx, begin, regexp.MustCompile(`KEEL-CHECK-LIST-END`))
	list := c.Lines(begin+1, end)
	t.Logf("svcctl list in the guest:\n%s", strings.Join(list, "\n"))
	want := map[string]string{"sysctl": "exited", "getty": "running", "hello": "running", "check": "running"}
	for _, line := range list {
		f := strings.Fields(stripPrefix(line))
		if len(f) >= 3 {
			if st, ok := want[f[0]]; ok {
				if f[2] != st {
					t.Errorf("svcctl list: %s state %s, want %s", f[0], f[2], st)
				}
				delete(want, f[0])
			}
		}
	}
	for n := range want {
		t.Errorf("svcctl list: no row for %s", n)
	}

	// init copies the root's images to RAM disks, one each, and turns the
	// kernel's read-ahead off on them (rootimage.go and ramdisk.go say
	// why); no loop device is left behind for them.
	rams := 0
	for from := 0; ; {
		i, _, err := c.Expect(ctx, from, regexp.MustCompile(`KEEL-CHECK-(RAM|LOOP) `))
		if err != nil {
			break
		}
		from = i + 1
		f := strings.Fields(stripPrefix(c.Lines(i, i+1)[0]))
		if len(f) != 4 {
			continue
		}
		switch f[0] {
		case "KEEL-CHECK-LOOP":
			if strings.Contains(f[2], "keel-root") {
				t.Errorf("%s is attached to %s, want the root's images on RAM disks", f[1], f[2])
			}
		case "KEEL-CHECK-RAM":
			rams++
			if f[3] != "0" {
				t.Errorf("%s: read_ahead_kb %s, want 0", f[1], f[3])
			}
		}
	}
	if rams != 7 {
		t.Errorf("the check service saw %d RAM disks, want 7 (one per image of the root)", rams)
	}
	t.Logf("%d RAM disks under the root's images, read-ahead checked", rams)

	// Services are not echoed to the console unless marked (check is);
	// svcd kept hello's output for `svcctl logs`.
	if _, _, err := c.Expect(ctx, 0, regexp.MustCompile(`^hello: `)); err == nil {
		t.Error("hello's output was echoed to the console; services are quiet unless console: true")
	}
	lb, _, err := c.Expect(ctx, 0, regexp.MustCompile(`KEEL-CHECK-LOGS-BEGIN hello`))
	if err != nil {
		t.Fatalf("no svcctl logs hello from the check service: %v", err)
	}
	le, _, _ := c.Expect(ctx, lb, regexp.MustCompile(`KEEL-CHECK-LOGS-END hello`))
	logs := strings.Join(c.Lines(lb, le+1), "\n")
	if !strings.Contains(logs, "service running") {
		t.Errorf("svcctl logs hello in the guest lacks \"service running\":\n%s", logs)
	}
	rb, _, err := c.Expect(ctx, 0, regexp.MustCompile(`KEEL-CHECK-LOGREAD-BEGIN hello`))
	if err != nil {
		t.Fatalf("no logread hello from the check service: %v", err)
	}
	re, _, _ := c.Expect(ctx, rb, regexp.MustCompile(`KEEL-CHECK-LOGREAD-END hello`))
	if lr := strings.Join(c.Lines(rb, re+1), "\n"); !regexp.MustCompile(`Z hello\.stdout .*service running`).MatchString(lr) {
		t.Errorf("logread hello in the guest lacks a \"TIME hello.stdout ... service running\" line:\n%s", lr)
	}
}

// noMissingDrivers fails the test when init or modprobe said a device or
// request wanted a module the image was built without: every QEMU machine
// the tests boot must be covered by the default module set. Call it after
// QEMU exited.
func noMissingDrivers(ctx context.Context, t *testing.T, c *Console) {
	t.Helper()
	var missing []string
	for from := 0; ; {
		i, _, err := c.Expect(ctx, from, regexp.MustCompile(`is not in this image`))
		if err != nil {
			break
		}
		missing = append(missing, c.Lines(i, i+1)...)
		from = i + 1
	}
	if len(missing) > 0 {
		t.Errorf("drivers the machine needs are not in the default module set:\n%s", strings.Join(missing, "\n"))
	}
}

// stripPrefix removes svcd's "name: " console prefix from a container's line.
func stripPrefix(line string) string {
	_, rest, ok := strings.Cut(line, ": ")
	if !ok {
		return line
	}
	return rest
}
