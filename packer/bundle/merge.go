package bundle

import (
	"os"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Precedence helpers: each takes the YAML value first, then the label's,
// then (where there is one) the image config's. A nil pointer means "not
// set"; a pointer to an empty list or map is set, and wins.

func strs(yaml, label *[]string, image []string) []string {
	switch {
	case yaml != nil:
		return append([]string(nil), (*yaml)...)
	case label != nil:
		return append([]string(nil), (*label)...)
	}
	return append([]string(nil), image...)
}

func firstNonEmpty(list ...string) string {
	for _, s := range list {
		if s != "" {
			return s
		}
	}
	return ""
}

func firstPtr[T any](yaml, label *T) *T {
	if yaml != nil {
		return yaml
	}
	return label
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func boolean(yaml, label *bool) bool { return deref(firstPtr(yaml, label)) }

// strMap returns a copy of the winning map, or nil when it is empty.
func strMap(yaml, label *map[string]string) map[string]string {
	m := deref(firstPtr(yaml, label))
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// union appends add to base, dropping repeats, keeping first-seen order.
func union(base, add []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range append(append([]string(nil), base...), add...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func fileMode(perm uint32) os.FileMode { return os.FileMode(perm) }

func idMaps(yaml, label *[]specs.LinuxIDMapping) []specs.LinuxIDMapping {
	return append([]specs.LinuxIDMapping(nil), deref(firstPtr(yaml, label))...)
}
