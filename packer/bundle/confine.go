package bundle

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/keel-os/keel/packer/spec"
)

// Paths hidden from or read-only in a container unless its entry or label
// lists its own (an empty list clears them), as Docker and containerd do:
// kernel memory, keys, timers and firmware tables are none of a service's
// business, and /proc/sys is the host's. Only a privileged container goes
// without them, Docker's rule: CAP_SYS_ADMIN alone is held for one job
// (mount a disk, swapon, re-read a partition table) and does not make
// /proc/kcore or /proc/sys the container's business. A container that
// needs one (sysctl writes /proc/sys, metadata reads /sys/firmware) says
// so with readonlyPaths: [] or maskedPaths: [] in its entry or label.
var (
	defaultMaskedPaths = []string{
		"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
		"/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
		"/proc/timer_stats", "/sys/devices/virtual/powercap", "/sys/firmware",
	}
	defaultReadonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

// privileged reports whether the container holds every capability: like
// `docker run --privileged`, such a container (a console login, a system
// shell) gets no default seccomp profile, masked paths, no-new-privileges
// or read-only /sys, since it could undo them anyway.
func privileged(caps *specs.LinuxCapabilities) bool {
	return caps != nil && len(caps.Bounding) == len(spec.ExpandCapabilities([]string{"all"}))
}

// confine applies Keel's default confinement to oci: no-new-privileges,
// masked and read-only /proc and /sys paths, the runtime's sockets masked
// below a bind of the host's / or /run, and containerd's default seccomp
// profile (which allows what the container's capabilities need). Each can
// be turned off per container: noNewPrivileges: false, maskedPaths: [],
// readonlyPaths: [], seccomp: unconfined; the socket masks by binding the
// socket or its directory by name. A privileged container gets none.
func (b *builder) confine(oci *specs.Spec) error {
	img, label := b.img, b.label
	priv := privileged(oci.Process.Capabilities)
	oci.Process.NoNewPrivileges = !priv
	if nnp := firstPtr(img.NoNewPrivileges, label.NoNewPrivileges); nnp != nil {
		oci.Process.NoNewPrivileges = *nnp
	}
	var masked, readonly, sockets []string
	if !priv {
		// Keel's own additions stay off the paths below a bind that
		// shares its mounts back with the host: there, the mask would
		// hide the host's file, not the container's.
		shared := sharedBinds(oci)
		masked = outside(defaultMaskedPaths, shared)
		readonly = outside(defaultReadonlyPaths, shared)
		sockets = outside(runtimeSocketMasks(oci.Mounts), shared)
	}
	oci.Linux.MaskedPaths = strs(img.MaskedPaths, label.MaskedPaths, masked)
	for _, p := range sockets {
		if !slices.Contains(oci.Linux.MaskedPaths, p) {
			oci.Linux.MaskedPaths = append(oci.Linux.MaskedPaths, p)
		}
	}
	oci.Linux.ReadonlyPaths = strs(img.ReadonlyPaths, label.ReadonlyPaths, readonly)
	mode := firstNonEmpty(img.Seccomp, label.Seccomp, spec.SeccompDefault)
	switch {
	case mode == spec.SeccompUnconfined || (priv && img.Seccomp == "" && label.Seccomp == ""):
		oci.Linux.Seccomp = nil
	case mode == spec.SeccompDefault:
		oci.Linux.Seccomp = seccomp.DefaultProfile(oci)
		oci.Linux.Seccomp.Architectures = filterArches(b.opts.arch, oci.Linux.Seccomp.Architectures)
	default:
		return fmt.Errorf("seccomp %q: want %s or %s", mode, spec.SeccompDefault, spec.SeccompUnconfined)
	}
	return nil
}

// seccompArches are the architectures the default seccomp profile lists
// for a system of each architecture: its own and the 32-bit one its kernel
// runs programs of. containerd's profile also lists x32 on amd64, which
// Debian's kernels are built without (CONFIG_X86_X32_ABI unset), so no
// program can make an x32 system call there; and each architecture a
// filter lists costs runc a compile of every rule at each container start
// (about 13 ms natively, a quarter of a second under TCG).
var seccompArches = map[string][]specs.Arch{
	"amd64": {specs.ArchX86_64, specs.ArchX86},
	"arm64": {specs.ArchAARCH64, specs.ArchARM},
}

// filterArches returns the architectures a default profile lists for a
// system of arch; for an architecture not in seccompArches, the profile's
// own list without x32.
func filterArches(arch string, profile []specs.Arch) []specs.Arch {
	if a, ok := seccompArches[arch]; ok {
		return slices.Clone(a)
	}
	return slices.DeleteFunc(slices.Clone(profile), func(a specs.Arch) bool { return a == specs.ArchX32 })
}

// sharedBinds returns the destinations of the binds whose mounts reach
// the host's mount tree: with rootfsPropagation shared (a container that
// mounts disks for the host, as pkgs/mount) a bind that does not ask for
// slave or private propagation is a peer of the host's mount, and a mask
// runc puts below it (a tmpfs, a bind of /dev/null) appears on the host
// too (seen with runc: a masked path under such a bind hid the host's
// directory). Without rootfsPropagation shared runc makes every mount a
// slave of the host's, and nothing goes back.
func sharedBinds(oci *specs.Spec) []string {
	if p := oci.Linux.RootfsPropagation; p != "shared" && p != "rshared" {
		return nil
	}
	var out []string
	for _, m := range oci.Mounts {
		if m.Type != "bind" && !slices.Contains(m.Options, "bind") && !slices.Contains(m.Options, "rbind") {
			continue
		}
		if slices.ContainsFunc(m.Options, func(o string) bool {
			return o == "slave" || o == "rslave" || o == "private" || o == "rprivate"
		}) {
			continue
		}
		out = append(out, m.Destination)
	}
	return out
}

// outside returns the paths of list that are not at or below any of dirs.
func outside(list, dirs []string) []string {
	if len(dirs) == 0 {
		return list
	}
	var out []string
	for _, p := range list {
		if !slices.ContainsFunc(dirs, func(d string) bool {
			return d == "/" || p == d || strings.HasPrefix(p, d+"/")
		}) {
			out = append(out, p)
		}
	}
	return out
}

// runtimeSocketMasks hides the runtime's socket directories (runtimeDirs)
// where a bind of one of their parents (the host's /, /run) would carry
// them into the container. Read-only does not help there: connect(2) on a
// unix socket ignores a read-only mount, and root in a container that
// reaches containerd's or svcd's socket can start a privileged one. A
// container that needs a socket binds it, or its directory, by name.
func runtimeSocketMasks(mounts []specs.Mount) []string {
	var out []string
	for _, m := range mounts {
		if m.Type != "bind" && !slices.Contains(m.Options, "bind") && !slices.Contains(m.Options, "rbind") {
			continue
		}
		if !path.IsAbs(m.Source) {
			continue
		}
		src := path.Clean(m.Source)
		for _, d := range runtimeDirs {
			// /var/run is a symlink to /run: below a bind of / or
			// /var it resolves inside the container, and only a
			// source that goes through it reaches the host's /run.
			if strings.HasPrefix(d, "/var/run/") && src != "/var/run" && !strings.HasPrefix(src, "/var/run/") {
				continue
			}
			rel, ok := strings.CutPrefix(d, src)
			if src == "/" {
				rel, ok = d, true
			}
			if !ok || !strings.HasPrefix(rel, "/") {
				continue // not below the source, or the source itself
			}
			out = append(out, path.Join(m.Destination, rel))
		}
	}
	// A bind at the masked path itself (binds: [/run:/run, /run/svcd:/run/svcd])
	// asks for that directory by name: runc mounts masks after binds, so the
	// mask would hide it again.
	return slices.DeleteFunc(out, func(p string) bool {
		return slices.ContainsFunc(mounts, func(m specs.Mount) bool {
			isBind := m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind")
			return isBind && path.Clean(m.Destination) == p
		})
	})
}
