package prepare

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/keel-os/keel/internal/bundle"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

func TestMountFlags(t *testing.T) {
	tests := []struct {
		in        []string
		wantFlags uintptr
		wantData  string
	}{
		{[]string{"rbind", "ro", "rshared"}, unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY, ""},
		{[]string{"nosuid", "mode=755", "size=1m", "rw"}, unix.MS_NOSUID, "mode=755,size=1m"},
	}
	for _, tc := range tests {
		f, d := mountFlags(tc.in)
		if f != tc.wantFlags || d != tc.wantData {
			t.Errorf("mountFlags(%v): got %#x %q, want %#x %q", tc.in, f, d, tc.wantFlags, tc.wantData)
		}
	}
}

// TestVethIntoNewNetns runs a process in a new network namespace, as a
// created task is, and checks that a veth pair ends up split across it and
// that bindNS pins the namespace.
func TestVethIntoNewNetns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pin := filepath.Join(t.TempDir(), "ns", "net")
	r := &Runtime{R: &bundle.Runtime{
		Interfaces: []bundle.Interface{{Name: "keelt0", Peer: "keelt0p"}},
		BindNS:     bundle.BindNS{Net: pin},
	}}
	if err := r.Created(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(pin, unix.MNT_DETACH)
	peer, err := netlink.LinkByName("keelt0p")
	if err != nil {
		t.Fatalf("peer in the root namespace: got %v, want it present", err)
	}
	defer netlink.LinkDel(peer)
	if _, err := netlink.LinkByName("keelt0"); err == nil {
		t.Error("container end in the root namespace: got present, want moved")
	}
	ns, err := netns.GetFromPid(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if _, err := h.LinkByName("keelt0"); err != nil {
		t.Errorf("container end in the new namespace: got %v, want present", err)
	}
	var a, b unix.Stat_t
	if err := unix.Stat(pin, &a); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(filepath.Join("/proc", itoa(cmd.Process.Pid), "ns", "net"), &b); err != nil {
		t.Fatal(err)
	}
	if a.Ino != b.Ino {
		t.Errorf("bindNS net: got inode %d, want %d (the task's namespace)", a.Ino, b.Ino)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestBindMountFlags makes runtime.mounts binds on this host and reads
// /proc/self/mountinfo: ro, nosuid, nodev and noexec must be on the new
// mount (the kernel ignores them on the mount(2) that makes a bind) and,
// for rbind, on every mount below it too; and a write must be refused.
func TestBindMountFlags(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: makes mounts")
	}
	src := t.TempDir()
	sub := filepath.Join(src, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mounting a tmpfs below the bind source: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	want := []string{"ro", "nosuid", "nodev", "noexec"}
	for _, tc := range []struct {
		name      string
		opts      []string
		wantBelow []string
	}{
		{"bind", []string{"bind", "ro", "nosuid", "nodev", "noexec"}, nil},
		{"rbind", []string{"rbind", "ro", "nosuid", "nodev", "noexec", "rslave"}, want},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "dst")
			r := &Runtime{R: &bundle.Runtime{Mounts: []bundle.Mount{{Source: src, Destination: dst, Type: "bind", Options: tc.opts}}}}
			if err := r.Create(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { unix.Unmount(dst, unix.MNT_DETACH) })
			opts := mountOptions(t)
			top, ok := opts[dst]
			if !ok {
				t.Fatalf("%s is not in /proc/self/mountinfo", dst)
			}
			for _, o := range want {
				if !top[o] {
					t.Errorf("%s: got options %v, want %s", dst, keys(top), o)
				}
			}
			if err := os.WriteFile(filepath.Join(dst, "x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
				t.Errorf("writing into %s: got %v, want EROFS", dst, err)
			}
			below := filepath.Join(dst, "sub")
			if tc.wantBelow == nil {
				return
			}
			for _, o := range tc.wantBelow {
				if !opts[below][o] {
					t.Errorf("%s: got options %v, want %s", below, keys(opts[below]), o)
				}
			}
			if err := os.WriteFile(filepath.Join(below, "x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
				t.Errorf("writing into %s: got %v, want EROFS", below, err)
			}
		})
	}
}

// mountOptions reads the per-mount options of every mount point in
// /proc/self/mountinfo (the last mount wins where several stack).
func mountOptions(t *testing.T) map[string]map[string]bool {
	t.Helper()
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]bool{}
	for _, l := range strings.Split(string(raw), "\n") {
		// id parent major:minor root mountpoint options ...
		f := strings.Fields(l)
		if len(f) < 6 {
			continue
		}
		set := map[string]bool{}
		for _, o := range strings.Split(f[5], ",") {
			set[o] = true
		}
		out[f[4]] = set
	}
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestRelativePathsUnderRootfs: as in LinuxKit, relative mkdir and mount
// destinations are taken from the container's rootfs, and mounts come
// first so a directory can be made inside one.
func TestRelativePathsUnderRootfs(t *testing.T) {
	rootfs := t.TempDir()
	r := &Runtime{Rootfs: rootfs, R: &bundle.Runtime{Mkdir: []string{"var/lib/app", filepath.Join(rootfs, "abs")}}}
	if err := r.Create(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"var/lib/app", "abs"} {
		if st, err := os.Stat(filepath.Join(rootfs, d)); err != nil || !st.IsDir() {
			t.Errorf("%s: got %v, want a directory under the rootfs", d, err)
		}
	}

	if os.Geteuid() != 0 {
		t.Skip("needs root for the mount part")
	}
	r = &Runtime{Rootfs: rootfs, R: &bundle.Runtime{
		Mounts: []bundle.Mount{{Source: "tmpfs", Destination: "scratch", Type: "tmpfs", Options: []string{"size=1m"}}},
		Mkdir:  []string{"scratch/inside"},
	}}
	if err := r.Create(); err != nil {
		t.Skipf("cannot mount here: %v", err)
	}
	dst := filepath.Join(rootfs, "scratch")
	t.Cleanup(func() { unix.Unmount(dst, unix.MNT_DETACH) })
	if _, ok := mountOptions(t)[dst]; !ok {
		t.Errorf("%s is not mounted: got no entry in /proc/self/mountinfo, want the tmpfs", dst)
	}
	if st, err := os.Stat(filepath.Join(dst, "inside")); err != nil || !st.IsDir() {
		t.Errorf("scratch/inside: got %v, want a directory inside the mounted tmpfs", err)
	}
}
