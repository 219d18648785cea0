package bundle

import (
	"fmt"
	"path"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	kbundle "github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/packer/spec"
)

// Where a setting came from, for warnings.
const (
	FromSpec  = "the spec"
	FromLabel = "the image's " + kbundle.LabelKey + " label"
)

// Risk is one way a container's entry or label gives up part of Keel's
// default confinement: `keel build` warns about each (see docs/security.md).
type Risk struct {
	// What the container can do, e.g. "holds CAP_SYS_ADMIN".
	What string
	// Setting is the field and value that asked for it, e.g.
	// "capabilities: [CAP_SYS_ADMIN]".
	Setting string
	// From is FromSpec or FromLabel (or both, joined by " and ").
	From string
}

// String reads "holds CAP_SYS_ADMIN (capabilities: [CAP_SYS_ADMIN] in the spec)".
func (r Risk) String() string { return fmt.Sprintf("%s (%s in %s)", r.What, r.Setting, r.From) }

// runtimeDirs hold the sockets of containerd and svcd: whoever reaches one
// as root can start a privileged container.
var runtimeDirs = []string{"/run/containerd", "/run/svcd", "/var/run/containerd", "/var/run/svcd"}

// Risks lists the ways img (the YAML entry) and label (the image's
// org.mobyproject.config label, nil for none) loosen the default
// confinement: a privileged container (every capability), CAP_SYS_ADMIN, a
// bind of the host's /, /run or a runtime socket, seccomp turned off, the
// host's pid namespace, or the host's network namespace asked for by name
// (LinuxKit's default is the host's network, so only an explicit `net:
// host` is reported). Each names the setting and where it came from, so a
// reader knows whether to look at the spec or at the image's publisher.
func Risks(img, label *spec.Image) []Risk {
	if label == nil {
		label = &spec.Image{}
	}
	var out []Risk
	out = append(out, capRisks(img, label)...)
	out = append(out, bindRisks(img, label)...)
	switch {
	case img.Seccomp == spec.SeccompUnconfined:
		out = append(out, Risk{"runs without seccomp", "seccomp: unconfined", FromSpec})
	case img.Seccomp == "" && label.Seccomp == spec.SeccompUnconfined:
		out = append(out, Risk{"runs without seccomp", "seccomp: unconfined", FromLabel})
	}
	for _, ns := range []struct {
		field, kind string
		yaml, lbl   string
	}{
		{"pid", "pid", img.Pid, label.Pid},
		{"net", "network", img.Net, label.Net},
	} {
		v, from := ns.yaml, FromSpec
		if v == "" {
			v, from = ns.lbl, FromLabel
		}
		if v == "host" || v == "root" || v == "/proc/1/ns/"+ns.field {
			out = append(out, Risk{"shares the host's " + ns.kind + " namespace", ns.field + ": " + v, from})
		}
	}
	return out
}

// capList is one list that grants capabilities, with where it came from.
type capList struct {
	field, from string
	caps        []string
}

// capLists are the capability lists in effect, with Config's precedence:
// capabilities in the YAML replaces the label's, capabilities.add extends
// it; ambient in the YAML replaces the label's.
func capLists(img, label *spec.Image) []capList {
	var out []capList
	if img.Capabilities != nil {
		out = append(out, capList{"capabilities", FromSpec, *img.Capabilities})
	} else {
		if label.Capabilities != nil {
			out = append(out, capList{"capabilities", FromLabel, *label.Capabilities})
		}
		if img.CapabilitiesAdd != nil {
			out = append(out, capList{"capabilities.add", FromSpec, *img.CapabilitiesAdd})
		}
	}
	switch {
	case img.Ambient != nil:
		out = append(out, capList{"ambient", FromSpec, *img.Ambient})
	case label.Ambient != nil:
		out = append(out, capList{"ambient", FromLabel, *label.Ambient})
	}
	return out
}

func capRisks(img, label *spec.Image) []Risk {
	lists := capLists(img, label)
	var all []string
	for _, l := range lists {
		all = append(all, spec.ExpandCapabilities(l.caps)...)
	}
	// Which lists to name: those granting the capability that matters.
	name := func(grants func(caps []string) bool) (string, string) {
		var settings, froms []string
		for _, l := range lists {
			if grants(spec.ExpandCapabilities(l.caps)) {
				settings = append(settings, fmt.Sprintf("%s: [%s]", l.field, strings.Join(l.caps, ", ")))
				if !slices.Contains(froms, l.from) {
					froms = append(froms, l.from)
				}
			}
		}
		return strings.Join(settings, "; "), strings.Join(froms, " and ")
	}
	switch {
	case privileged(&specs.LinuxCapabilities{Bounding: sortedSet(all)}):
		s, f := name(func(c []string) bool { return len(c) > 0 })
		return []Risk{{"is privileged", s, f}}
	case slices.Contains(all, "CAP_SYS_ADMIN"):
		s, f := name(func(c []string) bool { return slices.Contains(c, "CAP_SYS_ADMIN") })
		return []Risk{{"holds CAP_SYS_ADMIN", s, f}}
	}
	return nil
}

func bindRisks(img, label *spec.Image) []Risk {
	type bind struct{ field, from, source, text string }
	var binds []bind
	addBinds := func(field, from string, list []string) {
		for _, s := range list {
			src, _, _ := strings.Cut(s, ":")
			binds = append(binds, bind{field, from, src, s})
		}
	}
	if img.Binds != nil {
		addBinds("binds", FromSpec, *img.Binds)
	} else {
		addBinds("binds", FromLabel, deref(label.Binds))
		addBinds("binds.add", FromSpec, deref(img.BindsAdd))
	}
	mounts, from := img.Mounts, FromSpec
	if mounts == nil {
		mounts, from = label.Mounts, FromLabel
	}
	for _, m := range deref(mounts) {
		if m.Type == "bind" || slices.Contains(m.Options, "bind") || slices.Contains(m.Options, "rbind") {
			binds = append(binds, bind{"mounts", from, m.Source, m.Source + " on " + m.Destination})
		}
	}
	var out []Risk
	for _, b := range binds {
		if what := hostPathRisk(b.source); what != "" {
			out = append(out, Risk{what, b.field + ": " + b.text, b.from})
		}
	}
	return out
}

// hostPathRisk says what binding the host's source gives away, or "" when
// it is none of the paths warned about.
func hostPathRisk(source string) string {
	if !path.IsAbs(source) {
		return ""
	}
	p := path.Clean(source)
	switch p {
	case "/":
		return "binds the host's /"
	case "/run", "/var/run":
		return "binds the host's " + p
	}
	for _, d := range runtimeDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return "binds runtime socket path " + p
		}
	}
	return ""
}
