package bundle

import (
	"fmt"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	kbundle "github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/packer/spec"
)

// keel builds keel.json. Service-only settings (restart, dependsOn) are
// dropped for other phases and the run timeout for services, so an image
// label meant for one phase does not break the image's use in another.
func (b *builder) keel(phase kbundle.Phase) (*kbundle.Keel, error) {
	img, label := b.img, b.label
	k := &kbundle.Keel{
		Version: kbundle.Version,
		Name:    img.Name,
		Phase:   phase,
		Image:   img.Image,
	}
	if phase == kbundle.PhaseService {
		k.Restart = firstNonEmpty(img.Restart, label.Restart)
		deps := img.DependsOn
		if deps == nil {
			deps = label.DependsOn
		}
		k.DependsOn = append([]string(nil), deps...)
		hc, err := healthcheck(img.Healthcheck)
		if err != nil {
			return nil, err
		}
		k.Healthcheck = hc
	}
	if sig := firstNonEmpty(img.StopSignal, label.StopSignal, b.cfg.StopSignal); sig != "" {
		norm, err := spec.NormalizeSignal(sig)
		if err != nil {
			return nil, fmt.Errorf("stopSignal: %w", err)
		}
		k.StopSignal = norm
	}
	d, err := duration("stopTimeout", firstNonEmpty(img.StopTimeout, label.StopTimeout))
	if err != nil {
		return nil, err
	}
	k.StopTimeout = d
	if phase != kbundle.PhaseService {
		if k.Timeout, err = duration("timeout", firstNonEmpty(img.Timeout, label.Timeout)); err != nil {
			return nil, err
		}
	}
	k.Console = phase != kbundle.PhaseService
	if c := firstPtr(img.Console, label.Console); c != nil {
		k.Console = *c
	}
	k.Runtime = runtime(label.Runtime, img.Runtime)
	return k, nil
}

// healthcheck maps the YAML's Docker-style test onto keel.json: ["CMD",
// args...] and a bare list run args in the container, ["CMD-SHELL", s] runs
// s with /bin/sh -c, ["TCP", "host:port"] and ["FILE", path] are Keel's
// probes that need no tools in the image, and ["NONE"] disables the check.
func healthcheck(h *spec.Healthcheck) (*kbundle.Healthcheck, error) {
	if h == nil || len(h.Test) == 0 {
		return nil, nil
	}
	k := &kbundle.Healthcheck{Retries: h.Retries}
	args := h.Test[1:]
	switch h.Test[0] {
	case "NONE":
		return nil, nil
	case "CMD":
		k.Exec = append([]string(nil), args...)
	case "CMD-SHELL":
		k.Exec = []string{"/bin/sh", "-c", strings.Join(args, " ")}
	case "TCP", "FILE":
		if len(args) != 1 {
			return nil, fmt.Errorf("healthcheck.test: %s takes exactly one argument, got %d", h.Test[0], len(args))
		}
		if h.Test[0] == "TCP" {
			k.TCP = args[0]
		} else {
			k.File = args[0]
		}
	default:
		k.Exec = append([]string(nil), h.Test...)
	}
	if len(k.Exec) == 0 && k.TCP == "" && k.File == "" {
		return nil, fmt.Errorf("healthcheck.test: %s needs a command", h.Test[0])
	}
	var err error
	if k.Interval, err = duration("healthcheck.interval", h.Interval); err != nil {
		return nil, err
	}
	if k.Timeout, err = duration("healthcheck.timeout", h.Timeout); err != nil {
		return nil, err
	}
	if k.StartPeriod, err = duration("healthcheck.startPeriod", h.StartPeriod); err != nil {
		return nil, err
	}
	return k, nil
}

func duration(what, v string) (kbundle.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := spec.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return kbundle.Duration(d / time.Nanosecond), nil
}

// runtime merges LinuxKit's runtime sections field by field, the YAML's
// over the label's. It returns nil when nothing is set.
func runtime(label, yaml *spec.Runtime) *kbundle.Runtime {
	if label == nil {
		label = &spec.Runtime{}
	}
	if yaml == nil {
		yaml = &spec.Runtime{}
	}
	r := &kbundle.Runtime{
		Cgroups:   strs(yaml.Cgroups, label.Cgroups, nil),
		Mkdir:     strs(yaml.Mkdir, label.Mkdir, nil),
		Namespace: deref(firstPtr(yaml.Namespace, label.Namespace)),
		BindNS: kbundle.BindNS{
			Cgroup: deref(firstPtr(yaml.BindNS.Cgroup, label.BindNS.Cgroup)),
			Ipc:    deref(firstPtr(yaml.BindNS.Ipc, label.BindNS.Ipc)),
			Mnt:    deref(firstPtr(yaml.BindNS.Mnt, label.BindNS.Mnt)),
			Net:    deref(firstPtr(yaml.BindNS.Net, label.BindNS.Net)),
			Pid:    deref(firstPtr(yaml.BindNS.Pid, label.BindNS.Pid)),
			User:   deref(firstPtr(yaml.BindNS.User, label.BindNS.User)),
			Uts:    deref(firstPtr(yaml.BindNS.Uts, label.BindNS.Uts)),
		},
	}
	for _, m := range deref(firstPtr(yaml.Mounts, label.Mounts)) {
		r.Mounts = append(r.Mounts, runtimeMount(m))
	}
	for _, in := range deref(firstPtr(yaml.Interfaces, label.Interfaces)) {
		r.Interfaces = append(r.Interfaces, kbundle.Interface{Name: in.Name, Add: in.Add, Peer: in.Peer, CreateInRoot: in.CreateInRoot})
	}
	if len(r.Cgroups) == 0 && len(r.Mkdir) == 0 && len(r.Mounts) == 0 && len(r.Interfaces) == 0 &&
		r.Namespace == "" && r.BindNS == (kbundle.BindNS{}) {
		return nil
	}
	return r
}

func runtimeMount(m specs.Mount) kbundle.Mount {
	return kbundle.Mount{
		Destination: m.Destination,
		Type:        m.Type,
		Source:      m.Source,
		Options:     append([]string(nil), m.Options...),
	}
}
