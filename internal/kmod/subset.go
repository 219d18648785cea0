package kmod

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// OmittedFile is the index, next to modules.dep, of the kernel's modules
// that the packer left out of the image: "module NAME" and "alias PATTERN
// NAME" lines. The loader reads it only to say, when a device or a request
// wants one of them, that the image lacks it and how to add it.
const OmittedFile = "modules.omitted"

// OmittedError says the module a device or request wants exists for this
// kernel but was left out of the image when it was built.
type OmittedError struct {
	// Module is the module left out.
	Module string
	// For is what asked for it: a modalias, an alias or the name itself.
	For string
}

func (e *OmittedError) Error() string {
	what := "module " + e.Module
	if e.For != "" && Normalize(e.For) != e.Module {
		what += " (for " + e.For + ")"
	}
	return what + " is not in this image: keel build left it out; add it to the spec under `kernel: modules: [" + e.Module + "]` (or `modules: all`)"
}

// Is makes an OmittedError an ErrNotFound too.
func (e *OmittedError) Is(target error) bool { return target == ErrNotFound }

// IsOmitted reports whether err says a module was left out of the image,
// and returns the first such error.
func IsOmitted(err error) (*OmittedError, bool) {
	var oe *OmittedError
	ok := errors.As(err, &oe)
	return oe, ok
}

// Subset is the index of part of a modules tree, as SubsetIndex makes it.
type Subset struct {
	// Dep and Alias are modules.dep and modules.alias of the kept modules.
	Dep, Alias []byte
	// Omitted is the OmittedFile of the others.
	Omitted []byte
	// Files are the kept module files, relative to the modules directory.
	Files map[string]bool
}

// SubsetIndex returns the index of the modules named in keep (normalized
// names), which must be closed under dependencies (Closure gives such a
// set): the lines of dep and alias (a modules.dep and modules.alias) that
// are about kept modules, in their order, and an OmittedFile of the rest.
func SubsetIndex(dep, alias string, keep map[string]bool) (*Subset, error) {
	paths, deps, err := ParseDep(dep)
	if err != nil {
		return nil, err
	}
	s := &Subset{Files: map[string]bool{}}
	var depOut, aliasOut, om bytes.Buffer
	om.WriteString("# Modules of this kernel left out of the image by keel build; add any of them under kernel: modules: in the spec.\n")
	for _, line := range strings.Split(dep, "\n") {
		mod, _, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || strings.HasPrefix(mod, "#") {
			continue
		}
		name := NameFromPath(mod)
		if !keep[name] {
			fmt.Fprintf(&om, "module %s\n", name)
			continue
		}
		for _, d := range deps[name] {
			if !keep[NameFromPath(d)] {
				return nil, fmt.Errorf("module subset: %s needs %s, which is not kept (the set is not closed under dependencies)", name, NameFromPath(d))
			}
		}
		depOut.WriteString(strings.TrimSpace(line) + "\n")
		s.Files[mod] = true
	}
	aliasOut.WriteString("# Aliases extracted from modules themselves.\n")
	for _, line := range strings.Split(alias, "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "alias" {
			continue
		}
		name := Normalize(f[2])
		if _, known := paths[name]; !known {
			continue // an alias of a module not in the tree
		}
		if keep[name] {
			fmt.Fprintf(&aliasOut, "alias %s %s\n", f[1], f[2])
		} else {
			fmt.Fprintf(&om, "alias %s %s\n", f[1], name)
		}
	}
	s.Dep, s.Alias, s.Omitted = depOut.Bytes(), aliasOut.Bytes(), om.Bytes()
	return s, nil
}

// Closure returns the names in want (normalized) with every module they
// depend on, directly or not, according to modules.dep's deps (as ParseDep
// returns them). Names deps does not know are left out.
func Closure(want []string, deps map[string][]string) map[string]bool {
	out := map[string]bool{}
	for _, w := range want {
		w = Normalize(w)
		d, ok := deps[w]
		if !ok {
			continue
		}
		out[w] = true
		// modules.dep lists the whole closure on each line, but a
		// hand-written one might not: follow each dependency's line too.
		stack := append([]string(nil), d...)
		for len(stack) > 0 {
			n := NameFromPath(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			if out[n] {
				continue
			}
			out[n] = true
			stack = append(stack, deps[n]...)
		}
	}
	return out
}

// SortedNames returns the keys of a set, sorted.
func SortedNames(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
