package spec

import (
	"fmt"
	"path"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"gopkg.in/yaml.v3"
)

// image checks one container entry. section is "onboot", "onshutdown",
// "services" or "label". The entry's name and image come first, then each
// field by its rule in imageRules, then Keel's additions.
func (v *validator) image(img *Image, n *yaml.Node, p, section string) {
	v.identity(img, n, p, section)
	for _, r := range imageRules {
		r.check(field{v: v, entry: n, steps: []interface{}{r.key}, key: r.key, path: join(p, r.key), section: section}, img)
	}
	v.keel(img, n, p, section)
}

// identity checks an entry's name and image: required in a section, and
// refused in an image label (the spec names the container and its image).
func (v *validator) identity(img *Image, n *yaml.Node, p, section string) {
	if section == "label" {
		if img.Name != "" {
			v.errorf(node(n, "name"), n, p, "name cannot be set in an image label")
		}
		if img.Image != "" {
			v.errorf(node(n, "image"), n, p, "image cannot be set in an image label")
		}
		return
	}
	for _, f := range []struct{ key, val string }{{"name", img.Name}, {"image", img.Image}} {
		switch {
		case node(n, f.key) == nil:
			v.errorf(n, nil, p, "missing required field %q", f.key)
		case strings.TrimSpace(f.val) == "":
			v.errorf(node(n, f.key), n, join(p, f.key), "must not be empty")
		}
	}
}

// field is the part of a container entry a rule reports on: the steps
// (keys and list indexes) from the entry's node to its own, and its path in
// messages. A problem points at the field's node, or at the entry's when
// the field was not written (a value that came from elsewhere).
type field struct {
	v     *validator
	entry *yaml.Node
	steps []interface{}
	// key is the field's name (an entry of a list keeps its list's).
	key     string
	path    string
	section string
}

// node is the field's YAML node, nil when it was not written. It is looked
// up only when a rule reports, so a valid entry costs no lookups.
func (f field) node() *yaml.Node { return node(f.entry, f.steps...) }

func (f field) errorf(format string, args ...interface{}) {
	f.v.errorf(f.node(), f.entry, f.path, format, args...)
}

func (f field) warnf(format string, args ...interface{}) {
	f.v.warnf(f.node(), f.entry, f.path, format, args...)
}

// item is entry i of a list field: key[i].
func (f field) item(i int) field {
	f.steps = append(f.steps[:len(f.steps):len(f.steps)], i)
	f.path = fmt.Sprintf("%s[%d]", f.path, i)
	return f
}

// in is key inside the field's own mapping (a device's type): a problem
// there points at the field when key was not written.
func (f field) in(key string) field {
	return field{v: f.v, entry: f.node(), steps: []interface{}{key}, key: key, path: f.path + "." + key, section: f.section}
}

// each checks every entry of a list field that is set, each at its own
// node and path.
func each[T any](f field, list *[]T, check func(field, T)) {
	if list == nil {
		return
	}
	for i, e := range *list {
		check(f.item(i), e)
	}
}

// imageRule is the rule for one field of a container entry.
type imageRule struct {
	key   string
	check func(f field, img *Image)
}

// imageRules are the rules for a container entry's fields, one per field,
// in the order they run (problems at one position are listed in this
// order). Keel's additions are checked by keel; any other field without a
// rule is checked by its type alone, when it is decoded.
var imageRules = []imageRule{
	{"name", func(f field, img *Image) {
		if f.section != "label" && img.Name != "" {
			if err := checkName(img.Name); err != nil {
				f.errorf("%v", err)
			}
		}
	}},
	{"capabilities", func(f field, img *Image) { capabilities(f, img.Capabilities, true) }},
	{"capabilities.add", func(f field, img *Image) { capabilities(f, img.CapabilitiesAdd, false) }},
	{"ambient", func(f field, img *Image) { capabilities(f, img.Ambient, true) }},
	{"mounts", func(f field, img *Image) { each(f, img.Mounts, mount) }},
	{"binds", func(f field, img *Image) { each(f, img.Binds, bind) }},
	{"binds.add", func(f field, img *Image) { each(f, img.BindsAdd, bind) }},
	{"tmpfs", func(f field, img *Image) { each(f, img.Tmpfs, tmpfs) }},
	{"devices", func(f field, img *Image) { each(f, img.Devices, device) }},
	{"env", func(f field, img *Image) { each(f, img.Env, env) }},
	{"cwd", func(f field, img *Image) {
		if img.Cwd != "" && !path.IsAbs(img.Cwd) {
			f.errorf("must be an absolute path, got %q (runc refuses a relative working directory)", img.Cwd)
		}
	}},
	{"net", func(f field, img *Image) { namespace(f, img.Net) }},
	{"pid", func(f field, img *Image) { namespace(f, img.Pid) }},
	{"ipc", func(f field, img *Image) { namespace(f, img.Ipc) }},
	{"uts", func(f field, img *Image) { namespace(f, img.Uts) }},
	{"userns", func(f field, img *Image) { namespace(f, img.Userns) }},
	{"hostname", func(f field, img *Image) {
		if len(img.Hostname) > 64 {
			f.errorf("longer than 64 characters (the kernel refuses such a hostname: the container would not start)")
		}
	}},
	{"uid", func(f field, img *Image) { id(f, img.UID) }},
	{"gid", func(f field, img *Image) { id(f, img.GID) }},
	{"additionalGids", func(f field, img *Image) {
		each(f, img.AdditionalGids, func(f field, g interface{}) { id(f, &g) })
	}},
	{"oomScoreAdj", func(f field, img *Image) {
		if a := img.OOMScoreAdj; a != nil && (*a < -1000 || *a > 1000) {
			f.errorf("must be between -1000 and 1000, got %d (the kernel refuses it: the container would not start)", *a)
		}
	}},
	{"rootfsPropagation", func(f field, img *Image) {
		if rp := img.RootfsPropagation; rp != nil {
			switch *rp {
			case "", "shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable":
			default:
				f.errorf("invalid value %q: use shared, slave, private, unbindable or their r- forms", *rp)
			}
		}
	}},
	{"sysctl", func(f field, img *Image) {
		if img.Sysctl == nil {
			return
		}
		for k := range *img.Sysctl {
			if k == "" || strings.ContainsAny(k, " \t=") {
				f.errorf("invalid sysctl name %q (no such file under /proc/sys: the container would not start)", k)
			}
		}
	}},
	{"rlimits", func(f field, img *Image) {
		each(f, img.Rlimits, func(f field, r string) {
			if _, err := ParseRlimit(r); err != nil {
				f.errorf("%v", err)
			}
		})
	}},
	{"runtime", func(f field, img *Image) {
		if img.Runtime != nil {
			f.v.runtime(img.Runtime, f.node(), f.entry, f.path)
		}
	}},
}

// capabilities checks a list of capability names. "all" and "none" must
// stand alone; in capabilities.add (allNone false) a lone one is only
// warned about, since LinuxKit reads it there when the label sets none.
func capabilities(f field, list *[]string, allNone bool) {
	each(f, list, func(f field, name string) {
		low := strings.ToLower(name)
		if low == "all" || low == "none" {
			if !allNone && len(*list) == 1 {
				// LinuxKit merges capabilities.add into the label's list and
				// reads a lone "all" or "none" there: fine when the label
				// sets no capabilities, refused by the bundle otherwise.
				f.warnf("%q means every capability only if the image's label sets none (as in LinuxKit); capabilities: [%s] says it plainly", name, low)
			} else if len(*list) != 1 {
				f.errorf("%q must be the only entry of the list", name)
			}
			return
		}
		if !IsCapability(name) {
			f.errorf("unknown capability %q%s", name, didYouMean(name, allCaps))
		}
	})
}

// mount checks one mounts entry; a relative destination is taken from the
// container's root, as LinuxKit does, with a warning.
func mount(f field, m specs.Mount) {
	if _, err := NormalizeMount(m); err != nil {
		f.errorf("%v", err)
	} else if m.Destination != "" && !path.IsAbs(m.Destination) {
		// Points at the destination, reported under the entry.
		f.v.warnf(node(f.node(), "destination"), f.entry, f.path, "relative destination %q is taken as %q (from the container's root, as LinuxKit does)", m.Destination, absDest(m.Destination))
	}
}

// bind checks one binds or binds.add entry, and warns about binds LinuxKit
// accepts that likely do not do what was meant.
func bind(f field, b string) {
	if _, err := ParseBind(b); err != nil {
		f.errorf("%v", err)
		return
	}
	for _, odd := range bindOddities(b) {
		f.warnf("bind %q: %s", b, odd)
	}
}

// tmpfs checks one tmpfs entry; a relative destination is taken from the
// container's root, with a warning.
func tmpfs(f field, t string) {
	if _, _, err := ParseTmpfs(t); err != nil {
		f.errorf("%v", err)
	} else if d, _, _ := strings.Cut(t, ":"); !path.IsAbs(d) {
		f.warnf("relative destination %q is taken as %q", d, absDest(d))
	}
}

// device checks one devices entry: "all" with a type a, b or c, or an
// absolute path with a type and an octal mode.
func device(f field, d Device) {
	if d.Path == "all" {
		switch d.Type {
		case "a", "b", "c":
		default:
			f.in("type").errorf("with path \"all\", type must be a, b or c, got %q", d.Type)
		}
		return
	}
	if !path.IsAbs(d.Path) {
		f.in("path").errorf("must be an absolute path such as /dev/fuse (or \"all\"), got %q", d.Path)
	}
	switch d.Type {
	case "b", "c", "u", "p":
	default:
		f.in("type").errorf("must be b, c, u or p, got %q", d.Type)
	}
	if d.Mode == "" {
		f.errorf("missing required field \"mode\" (an octal string such as \"0660\")")
	} else if _, err := ParseMode(d.Mode); err != nil {
		f.in("mode").errorf("%v", err)
	}
}

// env checks one env entry: runc refuses anything but KEY=VALUE.
func env(f field, e string) {
	if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
		f.errorf("%q is not KEY=VALUE (runc refuses it: the container would not start)", e)
	}
}

// namespace checks one of net, pid, ipc, uts and userns.
func namespace(f field, val string) {
	if err := checkNamespace(f.key, val); err != nil {
		f.errorf("%v", err)
	}
}

// id checks a uid or gid: a number or a non-empty name.
func id(f field, val *interface{}) {
	if val == nil {
		return
	}
	if s, ok := (*val).(string); ok && strings.TrimSpace(s) == "" {
		f.errorf("must be a number or a non-empty name")
	}
}
