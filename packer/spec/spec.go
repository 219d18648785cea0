// Package spec is Keel's system description: LinuxKit's YAML format (kernel,
// init, onboot, onshutdown, services, files, volumes) plus Keel's optional
// image fields (restart, dependsOn, stopSignal, stopTimeout, timeout,
// healthcheck).
//
// Parse decodes one file strictly: every unknown key, wrong type or invalid
// value is reported with its file:line:column, all at once. Merge combines
// several files the way `linuxkit build a.yml b.yml` does, and Validate checks
// the rules that span files. ParseLabel reads the org.mobyproject.config label
// that LinuxKit images carry.
//
// Optional image fields are pointers so that "absent" and "explicitly empty"
// differ: an empty list in the YAML clears the value an image label gives.
package spec

import (
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"gopkg.in/yaml.v3"
)

// Spec is a whole system description.
type Spec struct {
	Kernel     Kernel    `yaml:"kernel"`
	Init       []string  `yaml:"init"`
	Onboot     []*Image  `yaml:"onboot"`
	Onshutdown []*Image  `yaml:"onshutdown"`
	Services   []*Image  `yaml:"services"`
	Files      []File    `yaml:"files"`
	Volumes    []*Volume `yaml:"volumes"`
	// Trust is LinuxKit's Docker Content Trust section. Keel accepts it so
	// old files still build, ignores it and says so in Warnings.
	Trust *yaml.Node `yaml:"trust"`

	// Warnings are non-fatal remarks about the spec, for the user.
	Warnings []string `yaml:"-"`
}

// Kernel says where the kernel comes from.
type Kernel struct {
	Image   string `yaml:"image"`
	Cmdline string `yaml:"cmdline"`
	Binary  string `yaml:"binary"`
	// Tar and UCode are pointers because an explicit "" means something:
	// a later file can switch off the earlier file's tar or microcode.
	Tar   *string `yaml:"tar"`
	UCode *string `yaml:"ucode"`
	// Modules widens the set of kernel modules the image carries (a Keel
	// extension): nil means the packer's default set.
	Modules *Modules `yaml:"modules"`
}

// Image is one container entry of onboot, onshutdown or services, or the
// content of an image's org.mobyproject.config label (then Name and Image are
// empty).
type Image struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`

	Capabilities      *[]string               `yaml:"capabilities"`
	CapabilitiesAdd   *[]string               `yaml:"capabilities.add"`
	Ambient           *[]string               `yaml:"ambient"`
	Mounts            *[]specs.Mount          `yaml:"mounts"`
	Binds             *[]string               `yaml:"binds"`
	BindsAdd          *[]string               `yaml:"binds.add"`
	Devices           *[]Device               `yaml:"devices"`
	Tmpfs             *[]string               `yaml:"tmpfs"`
	Command           *[]string               `yaml:"command"`
	Env               *[]string               `yaml:"env"`
	Cwd               string                  `yaml:"cwd"`
	Net               string                  `yaml:"net"`
	Pid               string                  `yaml:"pid"`
	Ipc               string                  `yaml:"ipc"`
	Uts               string                  `yaml:"uts"`
	Userns            string                  `yaml:"userns"`
	Hostname          string                  `yaml:"hostname"`
	Readonly          *bool                   `yaml:"readonly"`
	MaskedPaths       *[]string               `yaml:"maskedPaths"`
	ReadonlyPaths     *[]string               `yaml:"readonlyPaths"`
	UID               *interface{}            `yaml:"uid"`
	GID               *interface{}            `yaml:"gid"`
	AdditionalGids    *[]interface{}          `yaml:"additionalGids"`
	NoNewPrivileges   *bool                   `yaml:"noNewPrivileges"`
	OOMScoreAdj       *int                    `yaml:"oomScoreAdj"`
	RootfsPropagation *string                 `yaml:"rootfsPropagation"`
	CgroupsPath       *string                 `yaml:"cgroupsPath"`
	Resources         *specs.LinuxResources   `yaml:"resources"`
	Sysctl            *map[string]string      `yaml:"sysctl"`
	Rlimits           *[]string               `yaml:"rlimits"`
	UIDMappings       *[]specs.LinuxIDMapping `yaml:"uidMappings"`
	GIDMappings       *[]specs.LinuxIDMapping `yaml:"gidMappings"`
	Annotations       *map[string]string      `yaml:"annotations"`
	Runtime           *Runtime                `yaml:"runtime"`

	// Keel additions.

	// Restart is "no", "always", "on-failure", "on-failure:N" or
	// "unless-stopped" (services only).
	Restart string `yaml:"restart"`
	// DependsOn names services that must be up first (services only).
	DependsOn []string `yaml:"dependsOn"`
	// StopSignal is a signal name ("SIGTERM", "TERM") or number.
	StopSignal string `yaml:"stopSignal"`
	// StopTimeout is a Go duration ("10s") between StopSignal and SIGKILL.
	StopTimeout string `yaml:"stopTimeout"`
	// Timeout bounds an onboot or onshutdown run (Go duration).
	Timeout string `yaml:"timeout"`
	// Healthcheck probes a running service (services only).
	Healthcheck *Healthcheck `yaml:"healthcheck"`
	// Console echoes the container's output to the console (default: yes
	// for onboot and onshutdown, no for services).
	Console *bool `yaml:"console"`
	// Seccomp is "default" (the default: containerd's default profile,
	// unless the container has every capability) or "unconfined".
	Seccomp string `yaml:"seccomp"`

	// Pos is where the entry starts, for error messages.
	Pos Position `yaml:"-"`
}

// Device is a device node made inside the container and allowed by its
// device cgroup. Path "all" allows every device of Type instead.
type Device struct {
	Path  string `yaml:"path"`
	Type  string `yaml:"type"`
	Major int64  `yaml:"major"`
	Minor int64  `yaml:"minor"`
	Mode  string `yaml:"mode"`
}

// Runtime is LinuxKit's runtime section: work done around the container by
// the supervisor rather than by the OCI runtime.
type Runtime struct {
	Cgroups    *[]string      `yaml:"cgroups"`
	Mounts     *[]specs.Mount `yaml:"mounts"`
	Mkdir      *[]string      `yaml:"mkdir"`
	Interfaces *[]Interface   `yaml:"interfaces"`
	BindNS     Namespaces     `yaml:"bindNS"`
	Namespace  *string        `yaml:"namespace"`
}

// Namespaces lists where to bind-mount the container's namespaces.
type Namespaces struct {
	Cgroup *string `yaml:"cgroup"`
	Ipc    *string `yaml:"ipc"`
	Mnt    *string `yaml:"mnt"`
	Net    *string `yaml:"net"`
	Pid    *string `yaml:"pid"`
	User   *string `yaml:"user"`
	Uts    *string `yaml:"uts"`
}

// Interface is a network interface created for or moved into the container.
type Interface struct {
	Name         string `yaml:"name"`
	Add          string `yaml:"add"`
	Peer         string `yaml:"peer"`
	CreateInRoot bool   `yaml:"createInRoot"`
}

// Healthcheck describes how to probe a running service.
type Healthcheck struct {
	Test        []string `yaml:"test"`
	Interval    string   `yaml:"interval"`
	Timeout     string   `yaml:"timeout"`
	StartPeriod string   `yaml:"startPeriod"`
	Retries     int      `yaml:"retries"`
}

// File is an entry of the files section: exactly one of Contents, Source,
// Symlink, Metadata or Directory says what it is.
type File struct {
	Path      string `yaml:"path"`
	Directory bool   `yaml:"directory"`
	Symlink   string `yaml:"symlink"`
	// Contents is nil when absent; a pointer to "" is an empty file.
	Contents *string `yaml:"contents"`
	// Source is a host path; a leading ~/ is expanded by Parse. A relative
	// path is relative to the current directory, as in LinuxKit.
	Source string `yaml:"source"`
	// Metadata "yaml" (LinuxKit) or "json" (Keel) writes the whole
	// resolved spec into the file.
	Metadata string `yaml:"metadata"`
	// Optional skips a missing Source instead of failing.
	Optional bool `yaml:"optional"`
	// Mode is an octal string such as "0600"; empty means 0600 for files
	// and 0700 for directories (LinuxKit's defaults).
	Mode string `yaml:"mode"`
	// UID and GID are a number or a user/group name.
	UID interface{} `yaml:"uid"`
	GID interface{} `yaml:"gid"`

	Pos Position `yaml:"-"`
}

// Volume formats (LinuxKit's): the image's filesystem (the default) or the
// image as an OCI layout.
const (
	VolumeFormatFilesystem = "filesystem"
	VolumeFormatOCI        = "oci"
)

// Volume is LinuxKit's volumes entry: a named directory, blank or holding
// an image, that containers bind by name (binds, binds.add, and mounts of
// type bind). ResolveVolumes turns the names into the volume's path.
type Volume struct {
	Name      string   `yaml:"name"`
	Image     string   `yaml:"image"`
	ReadOnly  bool     `yaml:"readonly"`
	Format    string   `yaml:"format"`
	Platforms []string `yaml:"platforms"`

	Pos Position `yaml:"-"`
}

// ImageRefs lists every image reference of the spec in build order: kernel,
// init, onboot, onshutdown, services, volumes. Duplicates are kept.
func (s *Spec) ImageRefs() []string {
	var refs []string
	_ = s.eachRef(func(ref *string) error {
		refs = append(refs, *ref)
		return nil
	})
	return refs
}

// MapImages replaces every image reference (the ones ImageRefs lists) with
// what fn returns for it, stopping at the first error. The CLI uses it to
// resolve @pkg: references and to pin tags to digests.
func (s *Spec) MapImages(fn func(ref string) (string, error)) error {
	return s.eachRef(func(ref *string) error {
		v, err := fn(*ref)
		if err != nil {
			return err
		}
		*ref = v
		return nil
	})
}

func (s *Spec) eachRef(fn func(ref *string) error) error {
	if s.Kernel.Image != "" {
		if err := fn(&s.Kernel.Image); err != nil {
			return err
		}
	}
	for i := range s.Init {
		if err := fn(&s.Init[i]); err != nil {
			return err
		}
	}
	for _, list := range [][]*Image{s.Onboot, s.Onshutdown, s.Services} {
		for _, img := range list {
			if img == nil {
				continue
			}
			if err := fn(&img.Image); err != nil {
				return err
			}
		}
	}
	for _, vol := range s.Volumes {
		if vol == nil || vol.Image == "" {
			continue // a blank volume
		}
		if err := fn(&vol.Image); err != nil {
			return err
		}
	}
	return nil
}

// Merge combines specs the way LinuxKit combines several YAML files: a later
// kernel field replaces an earlier one when it is set (kernel.modules lists
// add up, and any `all` wins); init, onboot,
// onshutdown, services, files and volumes are appended in order. Entries are
// shared with the inputs, not copied. Call Validate on the result: names
// must still be unique across the merged files.
func Merge(list ...*Spec) *Spec {
	out := &Spec{}
	for _, s := range list {
		if s == nil {
			continue
		}
		k := s.Kernel
		if k.Image != "" {
			out.Kernel.Image = k.Image
		}
		if k.Cmdline != "" {
			out.Kernel.Cmdline = k.Cmdline
		}
		if k.Binary != "" {
			out.Kernel.Binary = k.Binary
		}
		if k.Tar != nil {
			out.Kernel.Tar = k.Tar
		}
		if k.UCode != nil {
			out.Kernel.UCode = k.UCode
		}
		out.Kernel.Modules = mergeModules(out.Kernel.Modules, k.Modules)
		out.Init = append(out.Init, s.Init...)
		out.Onboot = append(out.Onboot, s.Onboot...)
		out.Onshutdown = append(out.Onshutdown, s.Onshutdown...)
		out.Services = append(out.Services, s.Services...)
		out.Files = append(out.Files, s.Files...)
		out.Volumes = append(out.Volumes, s.Volumes...)
		if s.Trust != nil {
			out.Trust = s.Trust
		}
		out.Warnings = append(out.Warnings, s.Warnings...)
	}
	return out
}
