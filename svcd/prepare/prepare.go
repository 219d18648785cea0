// Package prepare applies LinuxKit's runtime section of keel.json on the
// host around a container's creation: directories, mounts and cgroups
// before it, network interfaces and namespace bind mounts once the task's
// namespaces exist but before its process runs.
package prepare

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keel-os/keel/internal/bundle"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Runtime implements runner.Hooks for one container.
type Runtime struct {
	R *bundle.Runtime
	// CgroupRoot is the cgroup v2 mount; empty means /sys/fs/cgroup.
	CgroupRoot string
	// ProcRoot is /proc; tests may point it elsewhere.
	ProcRoot string
	// Rootfs is the container's root filesystem on the host: as in
	// LinuxKit, a relative mkdir or mount destination is taken from it.
	Rootfs string
}

// abs makes a relative runtime path absolute under the container's rootfs.
func (p *Runtime) abs(dir string) string {
	if filepath.IsAbs(dir) || p.Rootfs == "" {
		return dir
	}
	return filepath.Join(p.Rootfs, dir)
}

// Create makes the mounts, directories and cgroups, in LinuxKit's order:
// mounts first, so a directory can be made inside a mounted file system.
// It is safe to run again on a restart: what exists is left alone.
func (p *Runtime) Create() error {
	if p.R == nil {
		return nil
	}
	for _, m := range p.R.Mounts {
		m.Destination = p.abs(m.Destination)
		if err := mount(m); err != nil {
			return err
		}
	}
	for _, d := range p.R.Mkdir {
		d = p.abs(d)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("runtime mkdir %s: %w", d, err)
		}
	}
	root := p.CgroupRoot
	if root == "" {
		root = "/sys/fs/cgroup"
	}
	for _, cg := range p.R.Cgroups {
		if err := os.MkdirAll(filepath.Join(root, cg), 0o755); err != nil {
			return fmt.Errorf("runtime cgroup %s: %w", cg, err)
		}
	}
	return nil
}

// Created moves or creates the interfaces into the task's network
// namespace and bind-mounts its namespaces where asked.
func (p *Runtime) Created(pid int) error {
	if p.R == nil {
		return nil
	}
	proc := p.ProcRoot
	if proc == "" {
		proc = "/proc"
	}
	if len(p.R.Interfaces) > 0 {
		ns, err := os.Open(filepath.Join(proc, fmt.Sprint(pid), "ns", "net"))
		if err != nil {
			return fmt.Errorf("opening network namespace of %d: %w", pid, err)
		}
		defer ns.Close()
		for _, in := range p.R.Interfaces {
			if err := iface(in, int(ns.Fd())); err != nil {
				return err
			}
		}
	}
	b := p.R.BindNS
	for _, x := range []struct{ ns, path string }{
		{"cgroup", b.Cgroup}, {"ipc", b.Ipc}, {"mnt", b.Mnt}, {"net", b.Net},
		{"pid", b.Pid}, {"user", b.User}, {"uts", b.Uts},
	} {
		if x.path == "" {
			continue
		}
		if err := bindNS(filepath.Join(proc, fmt.Sprint(pid), "ns", x.ns), x.path); err != nil {
			return err
		}
	}
	return nil
}

// iface applies one interface entry, as LinuxKit does: with Add it is
// created (a veth pair when Add is "veth" or Peer is set, its Name end in
// the container and Peer in the root namespace), otherwise the existing
// host interface Name is moved in. Links are made in the root namespace
// and then moved when CreateInRoot is set or for a veth pair (whose peer
// must stay behind); otherwise made inside directly.
func iface(in bundle.Interface, nsFd int) error {
	if in.Name == "" {
		return errors.New("runtime interface without a name")
	}
	add := in.Add
	if in.Peer != "" && add == "" {
		add = "veth"
	}
	if add == "" {
		l, err := netlink.LinkByName(in.Name)
		if err != nil {
			return fmt.Errorf("runtime interface %s: no such host interface to move: %w", in.Name, err)
		}
		if err := netlink.LinkSetNsFd(l, nsFd); err != nil {
			return fmt.Errorf("moving interface %s into the container: %w", in.Name, err)
		}
		return nil
	}
	la := netlink.NewLinkAttrs()
	la.Name = in.Name
	inRoot := in.CreateInRoot || add == "veth"
	if !inRoot {
		la.Namespace = netlink.NsFd(nsFd)
	}
	var l netlink.Link = &netlink.GenericLink{LinkAttrs: la, LinkType: add}
	if add == "veth" {
		if in.Peer == "" {
			return fmt.Errorf("runtime interface %s: a veth needs a peer name", in.Name)
		}
		l = &netlink.Veth{LinkAttrs: la, PeerName: in.Peer}
	}
	if err := netlink.LinkAdd(l); err != nil {
		// A restart finds the pair it made last time: a veth whose
		// container end died with the old namespace leaves the peer
		// behind. Remove it and try once more.
		if !errors.Is(err, unix.EEXIST) || add != "veth" {
			return fmt.Errorf("creating %s interface %s: %w", add, in.Name, err)
		}
		if old, lerr := netlink.LinkByName(in.Peer); lerr == nil {
			_ = netlink.LinkDel(old)
		}
		if old, lerr := netlink.LinkByName(in.Name); lerr == nil {
			_ = netlink.LinkDel(old)
		}
		if err := netlink.LinkAdd(l); err != nil {
			return fmt.Errorf("creating %s interface %s: %w", add, in.Name, err)
		}
	}
	if inRoot {
		made, err := netlink.LinkByName(in.Name)
		if err != nil {
			return fmt.Errorf("finding new interface %s: %w", in.Name, err)
		}
		if err := netlink.LinkSetNsFd(made, nsFd); err != nil {
			return fmt.Errorf("moving interface %s into the container: %w", in.Name, err)
		}
	}
	return nil
}

// bindNS bind-mounts a namespace file at path, making the file first; an
// old bind mount from a previous run is replaced.
func bindNS(src, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("bindNS %s: %w", path, err)
	}
	_ = unix.Unmount(path, unix.MNT_DETACH)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("bindNS %s: %w", path, err)
	}
	f.Close()
	if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bindNS: mounting %s on %s: %w", src, path, err)
	}
	return nil
}

// mount performs one host mount, making its target first. A bind mount
// whose target is already a mount point is left as is, so restarts do not
// stack mounts.
func mount(m bundle.Mount) error {
	if err := os.MkdirAll(m.Destination, 0o755); err != nil {
		return fmt.Errorf("runtime mount %s: %w", m.Destination, err)
	}
	flags, data := mountFlags(m.Options)
	typ := m.Type
	if flags&unix.MS_BIND != 0 {
		typ = ""
	}
	if mounted(m.Destination) {
		return nil
	}
	if err := unix.Mount(m.Source, m.Destination, typ, flags, data); err != nil {
		return fmt.Errorf("runtime mount %s on %s: %w", m.Source, m.Destination, err)
	}
	if flags&unix.MS_BIND != 0 {
		if err := bindFlags(m.Destination, flags); err != nil {
			return err
		}
	}
	// Propagation flags must be a mount call of their own.
	for _, o := range m.Options {
		if pf, ok := propagation[o]; ok {
			if err := unix.Mount("", m.Destination, "", pf, ""); err != nil {
				return fmt.Errorf("runtime mount %s: setting %s: %w", m.Destination, o, err)
			}
		}
	}
	return nil
}

// bindFlags applies the flags of a bind mount. The kernel ignores every
// flag but MS_REC on the mount(2) that makes a bind, so ro, nosuid, nodev,
// noexec and the atime flags need a remount of the new mount; and a
// remount changes only the top mount, so on a recursive bind the
// attributes go on every mount of the tree with mount_setattr(2).
func bindFlags(dest string, flags uintptr) error {
	perMount := flags &^ (unix.MS_BIND | unix.MS_REC)
	if perMount == 0 {
		return nil
	}
	if err := unix.Mount("", dest, "", unix.MS_REMOUNT|unix.MS_BIND|perMount, ""); err != nil {
		return fmt.Errorf("runtime mount %s: applying %s: %w", dest, flagList(perMount), err)
	}
	if flags&unix.MS_REC == 0 {
		return nil
	}
	var attr unix.MountAttr
	for _, f := range []struct {
		flag uintptr
		attr uint64
	}{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY}, {unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV}, {unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
	} {
		if flags&f.flag != 0 {
			attr.Attr_set |= f.attr
		}
	}
	if attr.Attr_set == 0 {
		return nil
	}
	if err := unix.MountSetattr(-1, dest, unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("runtime mount %s: applying %s to every mount below it (mount_setattr needs Linux 5.12): %w", dest, flagList(perMount), err)
	}
	return nil
}

// flagList names the flags of f for error messages ("ro,nosuid").
func flagList(f uintptr) string {
	var out []string
	for _, name := range []string{"ro", "nosuid", "nodev", "noexec", "noatime", "relatime", "strictatime"} {
		if f&flagNames[name] != 0 {
			out = append(out, name)
		}
	}
	return strings.Join(out, ",")
}

var propagation = map[string]uintptr{
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
}

var flagNames = map[string]uintptr{
	"bind": unix.MS_BIND, "rbind": unix.MS_BIND | unix.MS_REC, "ro": unix.MS_RDONLY,
	"nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV, "noexec": unix.MS_NOEXEC,
	"noatime": unix.MS_NOATIME, "relatime": unix.MS_RELATIME, "strictatime": unix.MS_STRICTATIME,
}

// mountFlags splits OCI mount options into flags and filesystem data.
func mountFlags(opts []string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range opts {
		if f, ok := flagNames[o]; ok {
			flags |= f
			continue
		}
		if _, ok := propagation[o]; ok || o == "rw" || o == "defaults" {
			continue
		}
		data = append(data, o)
	}
	return flags, strings.Join(data, ",")
}

// mounted reports whether dir is a mount point (its device differs from its
// parent's).
func mounted(dir string) bool {
	var a, b unix.Stat_t
	if unix.Stat(dir, &a) != nil || unix.Stat(filepath.Dir(dir), &b) != nil {
		return false
	}
	return a.Dev != b.Dev
}
