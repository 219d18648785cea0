package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/svcd/prepare"
	"github.com/keel-os/keel/svcd/runner"
	"golang.org/x/sys/unix"
)

// TestOnbootRuntime runs an onboot-style container with real runc and a
// LinuxKit runtime section: the directory is made before runc runs, and
// the hook runc calls between create and start (svcd's own binary under
// the hook's name) binds the container's UTS namespace, which outlives the
// container.
func TestOnbootRuntime(t *testing.T) {
	env := newHostEnv(t, "svcd-rt-")
	bin := env.buildSvcd(t)
	dir := filepath.Join(env.tmp, "onboot", "000-rt")
	made := filepath.Join(env.tmp, "made", "here")
	uts := filepath.Join(env.tmp, "ns", "uts")
	k := bundle.Keel{Version: bundle.Version, Name: "rt", Phase: bundle.PhaseOnboot,
		Runtime: &bundle.Runtime{Mkdir: []string{made}, BindNS: bundle.BindNS{Uts: uts}}}
	makeBundle(t, dir, k, "echo ran in $(hostname)")
	p := &prepare.Runtime{R: k.Runtime, Rootfs: filepath.Join(dir, "rootfs")}
	var out syncBuffer // stdout and stderr are copied by two goroutines
	r := &runner.Runc{
		Runc:        filepath.Join(env.build, "runc"),
		Root:        filepath.Join(env.tmp, "runc"),
		ID:          "rt",
		Bundle:      dir,
		Stdout:      &out,
		Stderr:      &out,
		Timeout:     time.Minute,
		Prepare:     p.Create,
		CreatedHook: prepare.Hook(filepath.Join(bin, "svcd"), dir),
	}
	code, err := r.Run(context.Background(), nil)
	if err != nil || code != 0 {
		t.Fatalf("run: code %d, %v; output:\n%s", code, err, out.String())
	}
	t.Cleanup(func() { unix.Unmount(uts, unix.MNT_DETACH) })
	if got, want := out.String(), "ran in rt\n"; got != want {
		t.Errorf("output: got %q, want %q", got, want)
	}
	if st, err := os.Stat(made); err != nil || !st.IsDir() {
		t.Errorf("mkdir %s: got %v, want a directory made before the run", made, err)
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(uts, &fs); err != nil || fs.Type != unix.NSFS_MAGIC {
		t.Fatalf("%s: statfs type %#x, %v; want a bound namespace (nsfs)", uts, fs.Type, err)
	}
	var bound, host unix.Stat_t
	if err := unix.Stat(uts, &bound); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat("/proc/self/ns/uts", &host); err != nil {
		t.Fatal(err)
	}
	if bound.Ino == host.Ino {
		t.Errorf("%s is the host's UTS namespace, want the container's", uts)
	}
}

// TestOnbootRuntimeHookFailure: a hook that fails stops the container
// before it runs, as LinuxKit skips a container it could not prepare.
func TestOnbootRuntimeHookFailure(t *testing.T) {
	env := newHostEnv(t, "svcd-rtf-")
	bin := env.buildSvcd(t)
	dir := filepath.Join(env.tmp, "onboot", "000-bad")
	// The interface does not exist, so the hook fails.
	k := bundle.Keel{Version: bundle.Version, Name: "bad", Phase: bundle.PhaseOnboot,
		Runtime: &bundle.Runtime{Interfaces: []bundle.Interface{{Name: "keel-test-absent0"}}}}
	makeBundle(t, dir, k, "echo ran")
	var out syncBuffer // stdout and stderr are copied by two goroutines
	r := &runner.Runc{
		Runc:        filepath.Join(env.build, "runc"),
		Root:        filepath.Join(env.tmp, "runc"),
		ID:          "bad",
		Bundle:      dir,
		Stdout:      &out,
		Stderr:      &out,
		Timeout:     time.Minute,
		CreatedHook: prepare.Hook(filepath.Join(bin, "svcd"), dir),
	}
	code, err := r.Run(context.Background(), nil)
	t.Logf("code %d, err %v", code, err)
	if code == 0 || strings.Contains(out.String(), "ran\n") {
		t.Errorf("code %d, output:\n%s\nwant a failure before the container ran", code, out.String())
	}
	if !strings.Contains(out.String(), prepare.HookName) {
		t.Errorf("output:\n%s\nwant runc's report of the hook's error", out.String())
	}
}

// TestOnbootOverLeftover: a container of the same id that runc still
// knows (left by an svcd that died between create and delete) is deleted
// before the run, which would otherwise fail with "container with id
// exists"; without one, no delete runs at all.
func TestOnbootOverLeftover(t *testing.T) {
	env := newHostEnv(t, "svcd-left-")
	dir := filepath.Join(env.tmp, "onboot", "000-left")
	k := bundle.Keel{Version: bundle.Version, Name: "left", Phase: bundle.PhaseOnboot}
	makeBundle(t, dir, k, "echo ran")
	runc := filepath.Join(env.build, "runc")
	root := filepath.Join(env.tmp, "runc")
	// No pipes: the created container's init keeps its stdio open.
	if err := exec.Command(runc, "--root", root, "create", "--bundle", dir, "left").Run(); err != nil {
		t.Fatalf("making the leftover container: %v", err)
	}
	t.Cleanup(func() { exec.Command(runc, "--root", root, "delete", "--force", "left").Run() })
	var out syncBuffer
	r := &runner.Runc{Runc: runc, Root: root, ID: "left", Bundle: dir, Stdout: &out, Stderr: &out, Timeout: time.Minute}
	code, err := r.Run(context.Background(), nil)
	if err != nil || code != 0 {
		t.Fatalf("run over a leftover container: code %d, %v; output:\n%s", code, err, out.String())
	}
	if got, want := out.String(), "ran\n"; got != want {
		t.Errorf("output: got %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(root, "left")); !os.IsNotExist(err) {
		t.Errorf("runc state of the container after the run: got %v, want none", err)
	}
}
