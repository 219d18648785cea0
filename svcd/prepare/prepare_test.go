package prepare

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
