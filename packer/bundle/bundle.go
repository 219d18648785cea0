// Package bundle turns one container entry of a spec, plus its image's
// configuration, into what goes next to the container's rootfs: the OCI
// runtime config.json and Keel's keel.json.
//
// The rules are LinuxKit's (its ConfigToOCI): a field set in the YAML wins
// over the image's org.mobyproject.config label, which wins over the image
// config (Entrypoint, Cmd, Env, WorkingDir); an explicitly empty list in the
// YAML clears the label's value. Defaults are LinuxKit's too: no
// capabilities unless asked, host network/ipc/uts namespaces, a new pid,
// mount and cgroup namespace, and the mounts /proc, /dev, /dev/pts, /sys and
// /sys/fs/cgroup.
package bundle

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	kbundle "github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/packer/spec"
)

// Option adjusts Config.
type Option func(*options)

type options struct {
	users, groups map[string]uint32
	containers    map[string]uint32
	idSource      func() (users, groups map[string]uint32, err error)
	arch          string
}

// WithArch names the system's architecture (GOARCH spelling): the default
// seccomp profile then lists that architecture and its 32-bit one, not the
// packer's (see seccompArches).
func WithArch(arch string) Option {
	return func(o *options) { o.arch = arch }
}

// WithIDs gives the user and group names of the image (from its
// /etc/passwd and /etc/group, see ParseIDs) so that uid, gid and
// additionalGids may name users and groups, as LinuxKit allows.
func WithIDs(users, groups map[string]uint32) Option {
	return func(o *options) { o.users, o.groups = users, groups }
}

// WithIDSource is WithIDs read only when a name needs them: reading an
// image's /etc/passwd means reading the whole image.
func WithIDSource(load func() (users, groups map[string]uint32, err error)) Option {
	return func(o *options) { o.idSource = load }
}

// WithContainerIDs gives the ids allocated to the spec's containers (see
// spec.ContainerIDs): a uid or gid naming a container means its id, as in
// LinuxKit. Container names win over the image's user and group names.
func WithContainerIDs(ids map[string]uint32) Option {
	return func(o *options) { o.containers = ids }
}

// Config builds the OCI runtime spec and keel.json for one container: img
// is its spec entry, label the image's org.mobyproject.config label (nil if
// it has none, see spec.ParseLabel), cfg the image's config. The output
// depends only on the inputs, so rebuilding gives the same bytes.
func Config(img *spec.Image, label *spec.Image, cfg v1.Config, phase kbundle.Phase, opts ...Option) (*specs.Spec, *kbundle.Keel, error) {
	if img == nil {
		return nil, nil, fmt.Errorf("building container config: no image entry")
	}
	switch phase {
	case kbundle.PhaseOnboot, kbundle.PhaseService, kbundle.PhaseOnshutdown:
	default:
		return nil, nil, fmt.Errorf("%s: unknown phase %q", img.Name, phase)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if label == nil {
		label = &spec.Image{}
	}
	b := &builder{img: img, label: label, cfg: cfg, opts: o}
	oci, err := b.oci()
	if err != nil {
		return nil, nil, fmt.Errorf("%s %q: %w", phase, img.Name, err)
	}
	k, err := b.keel(phase)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %q: %w", phase, img.Name, err)
	}
	return oci, k, nil
}

// Marshal encodes an OCI spec as config.json: indented, HTML characters
// left alone, with a trailing newline.
func Marshal(s *specs.Spec) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("encoding config.json: %w", err)
	}
	return buf.Bytes(), nil
}

// builder holds the three layers of configuration, highest first: the
// YAML entry (img), the image label, the image config.
type builder struct {
	img, label *spec.Image
	cfg        v1.Config
	opts       options
}

func (b *builder) oci() (*specs.Spec, error) {
	img, label := b.img, b.label

	args := strs(img.Command, label.Command, append(append([]string(nil), b.cfg.Entrypoint...), b.cfg.Cmd...))
	if len(args) == 0 {
		return nil, fmt.Errorf("nothing to run: the image has no Entrypoint or Cmd and no command is set; add command: [...] to the entry")
	}
	env := strs(img.Env, label.Env, b.cfg.Env)
	cwd := firstNonEmpty(img.Cwd, label.Cwd, b.cfg.WorkingDir, "/")
	if !path.IsAbs(cwd) {
		return nil, fmt.Errorf("working directory %q must be an absolute path", cwd)
	}
	readonly := boolean(img.Readonly, label.Readonly)

	caps, err := b.capabilities()
	if err != nil {
		return nil, err
	}
	mounts, err := b.mounts(readonly, privileged(caps))
	if err != nil {
		return nil, err
	}
	namespaces, err := b.namespaces()
	if err != nil {
		return nil, err
	}
	user, err := b.user()
	if err != nil {
		return nil, err
	}
	var rlimits []specs.POSIXRlimit
	for _, r := range strs(img.Rlimits, label.Rlimits, nil) {
		rl, err := spec.ParseRlimit(r)
		if err != nil {
			return nil, err
		}
		rlimits = append(rlimits, rl)
	}

	hostname := firstNonEmpty(img.Hostname, label.Hostname)
	if hostname != "" && !hasNamespace(namespaces, specs.UTSNamespace) {
		return nil, fmt.Errorf("hostname %q needs its own UTS namespace: add uts: new", hostname)
	}

	resources, devices, err := b.devices()
	if err != nil {
		return nil, err
	}

	oci := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal:     false,
			User:         user,
			Args:         args,
			Env:          env,
			Cwd:          cwd,
			Capabilities: caps,
			Rlimits:      rlimits,
			OOMScoreAdj:  firstPtr(img.OOMScoreAdj, label.OOMScoreAdj),
		},
		// Relative: runc resolves it against the bundle directory.
		Root:        &specs.Root{Path: "rootfs", Readonly: readonly},
		Hostname:    hostname,
		Mounts:      mounts,
		Annotations: strMap(img.Annotations, label.Annotations),
		Linux: &specs.Linux{
			UIDMappings:       idMaps(img.UIDMappings, label.UIDMappings),
			GIDMappings:       idMaps(img.GIDMappings, label.GIDMappings),
			Sysctl:            strMap(img.Sysctl, label.Sysctl),
			Resources:         resources,
			CgroupsPath:       deref(firstPtr(img.CgroupsPath, label.CgroupsPath)),
			Namespaces:        namespaces,
			Devices:           devices,
			RootfsPropagation: deref(firstPtr(img.RootfsPropagation, label.RootfsPropagation)),
		},
	}
	if err := b.confine(oci); err != nil {
		return nil, err
	}
	return oci, nil
}

// namespaces follows LinuxKit: net, ipc and uts are the host's unless
// asked otherwise, pid is new unless "host", user is the host's unless
// asked, mount and cgroup are always new.
func (b *builder) namespaces() ([]specs.LinuxNamespace, error) {
	var out []specs.LinuxNamespace
	add := func(t specs.LinuxNamespaceType, v string, newByDefault bool) error {
		switch v {
		case "":
			if !newByDefault {
				return nil
			}
		case "host", "root":
			return nil
		case "new":
		case "none":
			if t != specs.NetworkNamespace {
				return fmt.Errorf("%s namespace %q: only net may be \"none\"", t, v)
			}
		default:
			if !path.IsAbs(v) {
				return fmt.Errorf("%s namespace %q: use host, new or an absolute path", t, v)
			}
			out = append(out, specs.LinuxNamespace{Type: t, Path: v})
			return nil
		}
		out = append(out, specs.LinuxNamespace{Type: t})
		return nil
	}
	img, label := b.img, b.label
	for _, ns := range []struct {
		t            specs.LinuxNamespaceType
		v            string
		newByDefault bool
	}{
		{specs.NetworkNamespace, firstNonEmpty(img.Net, label.Net), false},
		{specs.IPCNamespace, firstNonEmpty(img.Ipc, label.Ipc), false},
		{specs.UTSNamespace, firstNonEmpty(img.Uts, label.Uts), false},
		{specs.PIDNamespace, firstNonEmpty(img.Pid, label.Pid), true},
		{specs.UserNamespace, firstNonEmpty(img.Userns, label.Userns), false},
	} {
		if err := add(ns.t, ns.v, ns.newByDefault); err != nil {
			return nil, err
		}
	}
	out = append(out, specs.LinuxNamespace{Type: specs.MountNamespace}, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	return out, nil
}

func hasNamespace(list []specs.LinuxNamespace, t specs.LinuxNamespaceType) bool {
	for _, ns := range list {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// capabilities follows LinuxKit: the YAML list replaces the label's;
// capabilities.add extends the label's; "all" and "none" stand alone.
// Ambient capabilities are also put in the bounding, inheritable and
// permitted sets, as the kernel requires.
func (b *builder) capabilities() (*specs.LinuxCapabilities, error) {
	img, label := b.img, b.label
	var caps []string
	if img.Capabilities != nil {
		caps = *img.Capabilities
	} else {
		caps = union(deref(label.Capabilities), deref(img.CapabilitiesAdd))
	}
	caps = spec.ExpandCapabilities(caps)
	ambient := spec.ExpandCapabilities(strs(img.Ambient, label.Ambient, nil))
	for _, c := range append(append([]string(nil), caps...), ambient...) {
		if l := strings.ToLower(c); l == "all" || l == "none" {
			return nil, fmt.Errorf("capability %q must stand alone, but the image label's capabilities and capabilities.add merge into %v (LinuxKit refuses this too): set capabilities: to replace the label's list", c, caps)
		}
		if !spec.IsCapability(c) {
			return nil, fmt.Errorf("unknown capability %q", c)
		}
	}
	effective := sortedSet(caps)
	amb := sortedSet(ambient)
	bounding := sortedSet(append(append([]string(nil), caps...), ambient...))
	return &specs.LinuxCapabilities{
		Bounding:    bounding,
		Effective:   effective,
		Inheritable: bounding,
		Permitted:   bounding,
		Ambient:     amb,
	}, nil
}

// devices makes the device nodes and lets the device cgroup allow them.
func (b *builder) devices() (*specs.LinuxResources, []specs.LinuxDevice, error) {
	res := &specs.LinuxResources{}
	if r := firstPtr(b.img.Resources, b.label.Resources); r != nil {
		*res = *r
		// Copied so that appending device rules below leaves the
		// caller's spec alone.
		res.Devices = append([]specs.LinuxDeviceCgroup(nil), r.Devices...)
	}
	var devices []specs.LinuxDevice
	var list []spec.Device
	if d := firstPtr(b.img.Devices, b.label.Devices); d != nil {
		list = *d
	}
	for _, d := range list {
		if d.Path == "all" {
			res.Devices = append(res.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Access: "rwm"})
			continue
		}
		mode, err := spec.ParseMode(d.Mode)
		if err != nil {
			return nil, nil, fmt.Errorf("device %s: %w", d.Path, err)
		}
		fm := fileMode(mode)
		major, minor := d.Major, d.Minor
		devices = append(devices, specs.LinuxDevice{Path: d.Path, Type: d.Type, Major: major, Minor: minor, FileMode: &fm})
		res.Devices = append(res.Devices, specs.LinuxDeviceCgroup{Allow: true, Type: d.Type, Major: &major, Minor: &minor, Access: "rwm"})
	}
	return res, devices, nil
}

func sortedSet(list []string) []string {
	if len(list) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
