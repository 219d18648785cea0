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

// image checks one container entry. section is "onboot", "onshutdown",
// "services" or "label".
func (v *validator) image(img *Image, n *yaml.Node, p, section string) {
	at := func(steps ...interface{}) *yaml.Node { return node(n, steps...) }
	sub := func(key string) string { return join(p, key) }
	idx := func(key string, i int) string { return fmt.Sprintf("%s[%d]", join(p, key), i) }

	if section == "label" {
		if img.Name != "" {
			v.errorf(at("name"), n, p, "name cannot be set in an image label")
		}
		if img.Image != "" {
			v.errorf(at("image"), n, p, "image cannot be set in an image label")
		}
	} else {
		for _, f := range []struct{ key, val string }{{"name", img.Name}, {"image", img.Image}} {
			switch {
			case at(f.key) == nil:
				v.errorf(n, nil, p, "missing required field %q", f.key)
			case strings.TrimSpace(f.val) == "":
				v.errorf(at(f.key), n, sub(f.key), "must not be empty")
			}
		}
		if img.Name != "" {
			if err := checkName(img.Name); err != nil {
				v.errorf(at("name"), n, sub("name"), "%v", err)
			}
		}
	}

	for _, c := range []struct {
		key     string
		list    *[]string
		allNone bool
	}{{"capabilities", img.Capabilities, true}, {"capabilities.add", img.CapabilitiesAdd, false}, {"ambient", img.Ambient, true}} {
		if c.list == nil {
			continue
		}
		for i, name := range *c.list {
			low := strings.ToLower(name)
			if low == "all" || low == "none" {
				if !c.allNone && len(*c.list) == 1 {
					// LinuxKit merges capabilities.add into the label's list and
					// reads a lone "all" or "none" there: fine when the label
					// sets no capabilities, refused by the bundle otherwise.
					v.warnf(at(c.key, i), n, idx(c.key, i), "%q means every capability only if the image's label sets none (as in LinuxKit); capabilities: [%s] says it plainly", name, low)
				} else if len(*c.list) != 1 {
					v.errorf(at(c.key, i), n, idx(c.key, i), "%q must be the only entry of the list", name)
				}
				continue
			}
			if !IsCapability(name) {
				v.errorf(at(c.key, i), n, idx(c.key, i), "unknown capability %q%s", name, didYouMean(name, allCaps))
			}
		}
	}

	if img.Mounts != nil {
		for i, m := range *img.Mounts {
			if _, err := NormalizeMount(m); err != nil {
				v.errorf(at("mounts", i), n, idx("mounts", i), "%v", err)
			} else if m.Destination != "" && !path.IsAbs(m.Destination) {
				v.warnf(at("mounts", i, "destination"), n, idx("mounts", i), "relative destination %q is taken as %q (from the container's root, as LinuxKit does)", m.Destination, absDest(m.Destination))
			}
		}
	}
	for _, key := range []string{"binds", "binds.add"} {
		list := img.Binds
		if key == "binds.add" {
			list = img.BindsAdd
		}
		if list == nil {
			continue
		}
		for i, b := range *list {
			if _, err := ParseBind(b); err != nil {
				v.errorf(at(key, i), n, idx(key, i), "%v", err)
				continue
			}
			for _, odd := range bindOddities(b) {
				v.warnf(at(key, i), n, idx(key, i), "bind %q: %s", b, odd)
			}
		}
	}
	if img.Tmpfs != nil {
		for i, t := range *img.Tmpfs {
			if _, _, err := ParseTmpfs(t); err != nil {
				v.errorf(at("tmpfs", i), n, idx("tmpfs", i), "%v", err)
			} else if d, _, _ := strings.Cut(t, ":"); !path.IsAbs(d) {
				v.warnf(at("tmpfs", i), n, idx("tmpfs", i), "relative destination %q is taken as %q", d, absDest(d))
			}
		}
	}
	if img.Devices != nil {
		for i, d := range *img.Devices {
			v.device(d, at("devices", i), n, idx("devices", i))
		}
	}
	if img.Env != nil {
		for i, e := range *img.Env {
			if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
				v.errorf(at("env", i), n, idx("env", i), "%q is not KEY=VALUE (runc refuses it: the container would not start)", e)
			}
		}
	}
	if img.Cwd != "" && !path.IsAbs(img.Cwd) {
		v.errorf(at("cwd"), n, sub("cwd"), "must be an absolute path, got %q (runc refuses a relative working directory)", img.Cwd)
	}
	for _, ns := range []struct{ key, val string }{
		{"net", img.Net}, {"pid", img.Pid}, {"ipc", img.Ipc}, {"uts", img.Uts}, {"userns", img.Userns},
	} {
		if err := checkNamespace(ns.key, ns.val); err != nil {
			v.errorf(at(ns.key), n, sub(ns.key), "%v", err)
		}
	}
	if len(img.Hostname) > 64 {
		v.errorf(at("hostname"), n, sub("hostname"), "longer than 64 characters (the kernel refuses such a hostname: the container would not start)")
	}
	v.id(img.UID, at("uid"), n, sub("uid"))
	v.id(img.GID, at("gid"), n, sub("gid"))
	if img.AdditionalGids != nil {
		for i, g := range *img.AdditionalGids {
			g := g
			v.id(&g, at("additionalGids", i), n, idx("additionalGids", i))
		}
	}
	if img.OOMScoreAdj != nil && (*img.OOMScoreAdj < -1000 || *img.OOMScoreAdj > 1000) {
		v.errorf(at("oomScoreAdj"), n, sub("oomScoreAdj"), "must be between -1000 and 1000, got %d (the kernel refuses it: the container would not start)", *img.OOMScoreAdj)
	}
	if rp := img.RootfsPropagation; rp != nil {
		switch *rp {
		case "", "shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable":
		default:
			v.errorf(at("rootfsPropagation"), n, sub("rootfsPropagation"),
				"invalid value %q: use shared, slave, private, unbindable or their r- forms", *rp)
		}
	}
	if img.Sysctl != nil {
		for k := range *img.Sysctl {
			if k == "" || strings.ContainsAny(k, " \t=") {
				v.errorf(at("sysctl"), n, sub("sysctl"), "invalid sysctl name %q (no such file under /proc/sys: the container would not start)", k)
			}
		}
	}
	if img.Rlimits != nil {
		for i, r := range *img.Rlimits {
			if _, err := ParseRlimit(r); err != nil {
				v.errorf(at("rlimits", i), n, idx("rlimits", i), "%v", err)
			}
		}
	}
	if img.Runtime != nil {
		v.runtime(img.Runtime, at("runtime"), n, sub("runtime"))
	}
	v.keel(img, n, p, section)
}

func (v *validator) device(d Device, n, parent *yaml.Node, p string) {
	if d.Path == "all" {
		switch d.Type {
		case "a", "b", "c":
		default:
			v.errorf(node(n, "type"), n, p+".type", "with path \"all\", type must be a, b or c, got %q", d.Type)
		}
		return
	}
	if !path.IsAbs(d.Path) {
		v.errorf(node(n, "path"), n, p+".path", "must be an absolute path such as /dev/fuse (or \"all\"), got %q", d.Path)
	}
	switch d.Type {
	case "b", "c", "u", "p":
	default:
		v.errorf(node(n, "type"), n, p+".type", "must be b, c, u or p, got %q", d.Type)
	}
	if d.Mode == "" {
		v.errorf(n, parent, p, "missing required field \"mode\" (an octal string such as \"0660\")")
	} else if _, err := ParseMode(d.Mode); err != nil {
		v.errorf(node(n, "mode"), n, p+".mode", "%v", err)
	}
}

func (v *validator) id(id *interface{}, n, parent *yaml.Node, p string) {
	if id == nil {
		return
	}
	if s, ok := (*id).(string); ok && strings.TrimSpace(s) == "" {
		v.errorf(n, parent, p, "must be a number or a non-empty name")
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
