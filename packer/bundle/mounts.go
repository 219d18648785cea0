package bundle

import (
	"fmt"
	"path"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/keel-os/keel/packer/spec"
)

// defaultMounts are LinuxKit's (which match Docker's options). Like
// LinuxKit, there is no /dev/shm or /dev/mqueue unless an entry asks.
// readonly makes /dev read-only too. /sys is read-only unless the
// container is privileged, as Docker has it: a root-owned sysfs file
// (transparent_hugepage/enabled, power/state, cpu*/online) needs only
// uid 0 to write, no capability, so a writable /sys lets any root
// service reconfigure the kernel. A container that must write it binds
// /sys:/sys (see docs/security.md).
func defaultMounts(readonly, priv bool) []specs.Mount {
	dev := []string{"nosuid", "strictatime", "mode=755", "size=65536k"}
	sys := []string{"nosuid", "noexec", "nodev"}
	if readonly {
		dev = append(dev, "ro")
	}
	if readonly || !priv {
		sys = append(sys, "ro")
	}
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "nodev", "noexec", "relatime"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: dev},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: sys},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
}

// mounts layers, each replacing earlier mounts at the same destination:
// the defaults, tmpfs, binds, then full mounts entries. The result is
// sorted by destination so a parent (/dev) is mounted before its children
// (/dev/pts) and the output is stable. priv says the container is
// privileged (see privileged).
func (b *builder) mounts(readonly, priv bool) ([]specs.Mount, error) {
	img, label := b.img, b.label
	byDest := map[string]specs.Mount{}
	put := func(m specs.Mount) {
		m.Options = recursiveFlags(m.Options)
		byDest[path.Clean(m.Destination)] = m
	}

	for _, m := range defaultMounts(readonly, priv) {
		put(m)
	}
	for _, t := range strs(img.Tmpfs, label.Tmpfs, nil) {
		dest, opts, err := spec.ParseTmpfs(t)
		if err != nil {
			return nil, err
		}
		put(specs.Mount{Destination: path.Clean(dest), Type: "tmpfs", Source: "tmpfs", Options: opts})
	}
	// binds replaces the label's binds; binds.add extends them.
	var binds []string
	if img.Binds != nil {
		binds = *img.Binds
	} else {
		binds = union(deref(label.Binds), deref(img.BindsAdd))
	}
	for _, s := range binds {
		bind, err := spec.ParseBind(s)
		if err != nil {
			return nil, err
		}
		if !path.IsAbs(bind.Source) {
			return nil, fmt.Errorf("bind %q: source %q is not an absolute path (if it names a volume, volumes must be resolved first)", s, bind.Source)
		}
		put(specs.Mount{Destination: path.Clean(bind.Destination), Type: "bind", Source: bind.Source, Options: bind.Options})
	}
	if list := firstPtr(img.Mounts, label.Mounts); list != nil {
		for _, m := range *list {
			m, err := spec.NormalizeMount(m)
			if err != nil {
				return nil, err
			}
			m.Destination = path.Clean(m.Destination)
			m.Options = append([]string(nil), m.Options...)
			put(m)
		}
	}
	out := make([]specs.Mount, 0, len(byDest))
	for _, d := range sortedKeys(byDest) {
		out = append(out, byDest[d])
	}
	return out, nil
}

// recursiveAttrs are the mount flags that runc can also apply to every
// mount below a recursive bind, under the name with an "r" in front.
var recursiveAttrs = []string{"ro", "nosuid", "nodev", "noexec"}

// propagationModes are the mount options that set propagation.
var propagationModes = []string{"shared", "rshared", "slave", "rslave", "private", "rprivate", "unbindable", "runbindable"}

// recursiveFlags makes ro, nosuid, nodev and noexec on a recursive bind
// apply to the whole tree. The kernel applies the flags of a bind only to
// its top mount: /:/host:ro,rbind left /host/run, /host/proc and every
// other mount below writable. runc's rro (rnosuid ...) sets the attribute
// on each mount of the tree with mount_setattr(2) (Linux 5.12). The plain
// flag stays for the top mount.
//
// A read-only recursive bind that names no propagation is also made
// rprivate, as Docker's binds are: runc makes the container's mounts
// slaves of the host's, and a mount the host makes later below the
// source would arrive in the container with its own flags, writable.
// One that asks for rslave or rshared (to see later host mounts, as
// node_exporter does) keeps it. opts is not modified.
func recursiveFlags(opts []string) []string {
	if !slices.Contains(opts, "rbind") {
		return opts
	}
	out := slices.Clone(opts)
	for _, f := range recursiveAttrs {
		if slices.Contains(opts, f) && !slices.Contains(opts, "r"+f) {
			out = append(out, "r"+f)
		}
	}
	if slices.Contains(opts, "ro") && !slices.ContainsFunc(opts, func(o string) bool { return slices.Contains(propagationModes, o) }) {
		out = append(out, "rprivate")
	}
	return out
}
