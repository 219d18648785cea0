package spec

import (
	"fmt"
	"path"
	"strings"

	"gopkg.in/yaml.v3"
)

// validator checks decoded values against the rules the types cannot
// express. It walks the YAML nodes alongside the values so each problem
// points at the exact key or list item.
type validator struct {
	file string
	errs ErrorList
	// skip holds the positions the decoder already complained about, so a
	// value of the wrong type is not also reported as, say, empty.
	skip map[Position]bool
	// warns are remarks about input LinuxKit accepts but that looks odd
	// ("file:line:col: path: message"); Parse hands them on as
	// Spec.Warnings.
	warns []string
}

func newValidator(file string, decodeErrs ErrorList) *validator {
	v := &validator{file: file, errs: decodeErrs, skip: map[Position]bool{}}
	for _, e := range decodeErrs {
		v.skip[e.Pos] = true
	}
	return v
}

// errorf records a problem at node n (or at fallback when n is nil).
func (v *validator) errorf(n, fallback *yaml.Node, path, format string, args ...interface{}) {
	if n == nil {
		n = fallback
	}
	p := Position{File: v.file}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	if v.skip[p] {
		return
	}
	v.errs.add(&Error{Pos: p, Msg: where(path) + fmt.Sprintf(format, args...)})
}

// warnf records a warning at node n (or at fallback when n is nil).
func (v *validator) warnf(n, fallback *yaml.Node, path, format string, args ...interface{}) {
	if n == nil {
		n = fallback
	}
	switch {
	case len(v.warns) > maxErrors:
		return
	case len(v.warns) == maxErrors:
		// Bounded like the errors: hostile input cannot grow the list.
		v.warns = append(v.warns, "... and more warnings")
		return
	}
	p := Position{File: v.file}
	if n != nil {
		p.Line, p.Column = n.Line, n.Column
	}
	v.warns = append(v.warns, fmt.Sprintf("%s: %s%s", p, where(path), fmt.Sprintf(format, args...)))
}

// errAt records a problem at a known position (used after Merge, when only
// entry positions are left).
func (v *validator) errAt(p Position, format string, args ...interface{}) {
	v.errs.add(&Error{Pos: p, Msg: fmt.Sprintf(format, args...)})
}

// node walks from n through mapping keys (string) and list indexes (int).
// It returns nil when the path does not exist.
func node(n *yaml.Node, steps ...interface{}) *yaml.Node {
	for _, s := range steps {
		n = resolve(n)
		if n == nil {
			return nil
		}
		switch s := s.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return nil
			}
			var found *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := resolve(n.Content[i]); k != nil && k.Value == s {
					found = n.Content[i+1]
					break
				}
			}
			n = found
		case int:
			if n.Kind != yaml.SequenceNode || s < 0 || s >= len(n.Content) {
				return nil
			}
			n = n.Content[s]
		}
	}
	return resolve(n)
}

func (v *validator) spec(s *Spec, root *yaml.Node) {
	for i, ref := range s.Init {
		if strings.TrimSpace(ref) == "" {
			v.errorf(node(root, "init", i), root, fmt.Sprintf("init[%d]", i), "empty image reference")
		}
	}
	sections := []struct {
		name string
		list []*Image
	}{{"onboot", s.Onboot}, {"onshutdown", s.Onshutdown}, {"services", s.Services}}
	for _, sec := range sections {
		for i, img := range sec.list {
			if img != nil {
				v.image(img, node(root, sec.name, i), fmt.Sprintf("%s[%d]", sec.name, i), sec.name)
			}
		}
	}
	for i := range s.Files {
		v.fileEntry(&s.Files[i], node(root, "files", i), fmt.Sprintf("files[%d]", i))
	}
	for i, vol := range s.Volumes {
		if vol == nil {
			continue
		}
		n, p := node(root, "volumes", i), fmt.Sprintf("volumes[%d]", i)
		switch {
		case node(n, "name") == nil:
			v.errorf(n, nil, p, "missing required field \"name\"")
		case !volumeNameRE.MatchString(vol.Name):
			v.errorf(node(n, "name"), n, p+".name", "invalid volume name %q: use lower-case letters, digits, '-' and '_'", vol.Name)
		}
		switch vol.Format {
		case "", VolumeFormatFilesystem, VolumeFormatOCI:
		default:
			v.errorf(node(n, "format"), n, p+".format", "unknown volume format %q: use %s (the image's files, the default) or %s (the image as an OCI layout)", vol.Format, VolumeFormatFilesystem, VolumeFormatOCI)
		}
	}
}

func (v *validator) runtime(r *Runtime, n, parent *yaml.Node, p string) {
	if r.Mounts != nil {
		for i, m := range *r.Mounts {
			// A relative destination is taken from the container's rootfs,
			// as in LinuxKit (svcd/prepare).
			if m.Destination == "" {
				v.errorf(node(n, "mounts", i), parent, fmt.Sprintf("%s.mounts[%d]", p, i), "missing required field \"destination\"")
			}
		}
	}
	if r.Mkdir != nil {
		for i, d := range *r.Mkdir {
			// Relative: from the container's rootfs, as in LinuxKit.
			if strings.TrimSpace(d) == "" {
				v.errorf(node(n, "mkdir", i), parent, fmt.Sprintf("%s.mkdir[%d]", p, i), "must not be empty")
			}
		}
	}
	if r.Interfaces != nil {
		for i, in := range *r.Interfaces {
			if in.Name == "" {
				v.errorf(node(n, "interfaces", i), parent, fmt.Sprintf("%s.interfaces[%d]", p, i), "missing required field \"name\"")
			}
		}
	}
	b := r.BindNS
	for _, ns := range []struct {
		key string
		val *string
	}{{"cgroup", b.Cgroup}, {"ipc", b.Ipc}, {"mnt", b.Mnt}, {"net", b.Net}, {"pid", b.Pid}, {"user", b.User}, {"uts", b.Uts}} {
		if ns.val != nil && *ns.val != "" && !path.IsAbs(*ns.val) {
			v.errorf(node(n, "bindNS", ns.key), parent, p+".bindNS."+ns.key, "must be an absolute path, got %q", *ns.val)
		}
	}
}

// keel checks Keel's additions to image entries.
func (v *validator) keel(img *Image, n *yaml.Node, p, section string) {
	at := func(steps ...interface{}) *yaml.Node { return node(n, steps...) }
	sub := func(key string) string { return join(p, key) }
	onlyServices := func(key string, set bool) {
		if set && section != "services" && section != "label" {
			v.errorf(at(key), n, sub(key), "only applies to services, not %s", section)
		}
	}

	onlyServices("restart", img.Restart != "")
	if err := checkRestart(img.Restart); err != nil {
		v.errorf(at("restart"), n, sub("restart"), "%v", err)
	}
	onlyServices("dependsOn", img.DependsOn != nil)
	for i, dep := range img.DependsOn {
		if err := checkName(dep); err != nil {
			v.errorf(at("dependsOn", i), n, fmt.Sprintf("%s[%d]", sub("dependsOn"), i), "%v", err)
		}
	}
	onlyServices("healthcheck", img.Healthcheck != nil)
	if h := img.Healthcheck; h != nil {
		hn := at("healthcheck")
		if len(h.Test) == 0 {
			v.errorf(hn, n, sub("healthcheck"), "missing required field \"test\" (the command to run)")
		}
		for _, d := range []struct{ key, val string }{{"interval", h.Interval}, {"timeout", h.Timeout}, {"startPeriod", h.StartPeriod}} {
			if d.val == "" {
				continue
			}
			if _, err := ParseDuration(d.val); err != nil {
				v.errorf(node(hn, d.key), hn, sub("healthcheck."+d.key), "%v", err)
			}
		}
		if h.Retries < 0 {
			v.errorf(node(hn, "retries"), hn, sub("healthcheck.retries"), "must not be negative")
		}
	}
	switch img.Seccomp {
	case "", SeccompDefault, SeccompUnconfined:
	default:
		v.errorf(at("seccomp"), n, sub("seccomp"), "%q: want %s or %s", img.Seccomp, SeccompDefault, SeccompUnconfined)
	}
	if img.StopSignal != "" {
		if _, err := NormalizeSignal(img.StopSignal); err != nil {
			v.errorf(at("stopSignal"), n, sub("stopSignal"), "%v", err)
		}
	}
	if img.StopTimeout != "" {
		if _, err := ParseDuration(img.StopTimeout); err != nil {
			v.errorf(at("stopTimeout"), n, sub("stopTimeout"), "%v", err)
		}
	}
	if img.Timeout != "" {
		if section == "services" {
			v.errorf(at("timeout"), n, sub("timeout"), "only applies to onboot and onshutdown (for services see stopTimeout)")
		} else if _, err := ParseDuration(img.Timeout); err != nil {
			v.errorf(at("timeout"), n, sub("timeout"), "%v", err)
		}
	}
}
