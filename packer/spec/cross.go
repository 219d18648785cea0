package spec

import (
	"path"
	"sort"
	"strings"

	"github.com/keel-os/keel/internal/layout"
)

// VolumesDir is where LinuxKit (and Keel) puts volumes inside the image; a
// bind whose source names a volume is mounted from VolumesDir/<name>/merged.
const VolumesDir = layout.VolumesDir

// cross checks the rules that involve more than one entry. It only uses
// entry positions, so it works the same on a merged spec.
func (v *validator) cross(s *Spec) {
	services := map[string]*Image{}
	for _, img := range s.Services {
		if img == nil || img.Name == "" {
			continue
		}
		if first, dup := services[img.Name]; dup {
			v.errAt(img.Pos, "duplicate service name %q (first defined at %s); service names must be unique", img.Name, first.Pos)
			continue
		}
		services[img.Name] = img
	}

	vols := map[string]*Volume{}
	for _, vol := range s.Volumes {
		if vol == nil || vol.Name == "" {
			continue
		}
		if first, dup := vols[vol.Name]; dup {
			v.errAt(vol.Pos, "duplicate volume name %q (first defined at %s)", vol.Name, first.Pos)
			continue
		}
		vols[vol.Name] = vol
	}

	for _, img := range s.Services {
		if img == nil {
			continue
		}
		for _, dep := range img.DependsOn {
			switch {
			case dep == img.Name:
				v.errAt(img.Pos, "service %q depends on itself", img.Name)
			case services[dep] == nil:
				v.errAt(img.Pos, "service %q depends on %q, which is not a service%s", img.Name, dep, didYouMean(dep, keys(services)))
			}
		}
	}
	if cycle := findCycle(s.Services, services); cycle != nil {
		v.errAt(services[cycle[0]].Pos, "services depend on each other in a cycle: %s", strings.Join(cycle, " -> "))
	}

	for _, list := range [][]*Image{s.Onboot, s.Onshutdown, s.Services} {
		for _, img := range list {
			if img != nil {
				v.volumeRefs(img, vols)
			}
		}
	}
}

// volumeRefs checks binds and bind mounts whose source is a volume name.
func (v *validator) volumeRefs(img *Image, vols map[string]*Volume) {
	check := func(src string, opts []string) {
		if src == "" || path.IsAbs(src) {
			return
		}
		vol := vols[src]
		if vol == nil {
			v.errAt(img.Pos, "%q: bind source %q is neither an absolute path nor a volume%s", img.Name, src, didYouMean(src, keys(vols)))
			return
		}
		if vol.ReadOnly && !readOnly(opts) {
			v.errAt(img.Pos, "%q: volume %q is read-only, but this bind is read-write (LinuxKit refuses it too): add the ro option, e.g. %s:/path:ro", img.Name, src, src)
		}
	}
	for _, list := range []*[]string{img.Binds, img.BindsAdd} {
		if list == nil {
			continue
		}
		for _, b := range *list {
			if bind, err := ParseBind(b); err == nil {
				check(bind.Source, bind.Options)
			}
		}
	}
	if img.Mounts != nil {
		for _, m := range *img.Mounts {
			if m.Type == "bind" {
				check(m.Source, m.Options)
			}
		}
	}
}

// readOnly reports whether mount options end up read-only (the last of
// ro/rw wins, as with mount(8)).
func readOnly(opts []string) bool {
	ro := false
	for _, o := range opts {
		switch o {
		case "ro":
			ro = true
		case "rw":
			ro = false
		}
	}
	return ro
}

// ResolveVolumes rewrites binds and bind mounts whose source names a volume
// to that volume's directory in the image (VolumesDir/<name>/merged), as
// LinuxKit does before building the OCI configs. Call it after Validate.
func (s *Spec) ResolveVolumes() {
	vols := map[string]bool{}
	for _, vol := range s.Volumes {
		if vol != nil {
			vols[vol.Name] = true
		}
	}
	rewrite := func(src string) (string, bool) {
		if src == "" || path.IsAbs(src) || !vols[src] {
			return src, false
		}
		return layout.VolumeMerged(src), true
	}
	for _, list := range [][]*Image{s.Onboot, s.Onshutdown, s.Services} {
		for _, img := range list {
			if img == nil {
				continue
			}
			for _, binds := range []*[]string{img.Binds, img.BindsAdd} {
				if binds == nil {
					continue
				}
				out := make([]string, len(*binds))
				for i, b := range *binds {
					out[i] = b
					src, rest, _ := strings.Cut(b, ":")
					if r, ok := rewrite(src); ok {
						out[i] = r + ":" + rest
					}
				}
				*binds = out
			}
			if img.Mounts != nil {
				for i, m := range *img.Mounts {
					if r, ok := rewrite(m.Source); ok && m.Type == "bind" {
						(*img.Mounts)[i].Source = r
					}
				}
			}
		}
	}
}

// findCycle returns the names along one dependency cycle, first name
// repeated at the end, or nil. The search is deterministic.
func findCycle(list []*Image, byName map[string]*Image) []string {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(name string) []string
	visit = func(name string) []string {
		switch state[name] {
		case active:
			for i, n := range stack {
				if n == name {
					return append(append([]string(nil), stack[i:]...), name)
				}
			}
		case done:
			return nil
		}
		state[name] = active
		stack = append(stack, name)
		for _, dep := range byName[name].DependsOn {
			if byName[dep] == nil || dep == name {
				continue
			}
			if c := visit(dep); c != nil {
				return c
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
		return nil
	}
	for _, img := range list {
		if img == nil || byName[img.Name] != img {
			continue
		}
		if c := visit(img.Name); c != nil {
			return c
		}
	}
	return nil
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
