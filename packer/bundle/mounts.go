package bundle

import (
	"fmt"
	"path"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/keel-os/keel/packer/spec"
)

// defaultMounts are LinuxKit's (which match Docker's options). Like
// LinuxKit, there is no /dev/shm or /dev/mqueue unless an entry asks.
// readonly makes /dev and /sys read-only too.
func defaultMounts(readonly bool) []specs.Mount {
	dev := []string{"nosuid", "strictatime", "mode=755", "size=65536k"}
	sys := []string{"nosuid", "noexec", "nodev"}
	if readonly {
		dev = append(dev, "ro")
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
// (/dev/pts) and the output is stable.
func (b *builder) mounts(readonly bool) ([]specs.Mount, error) {
	img, label := b.img, b.label
	byDest := map[string]specs.Mount{}
	put := func(m specs.Mount) { byDest[path.Clean(m.Destination)] = m }

	for _, m := range defaultMounts(readonly) {
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
