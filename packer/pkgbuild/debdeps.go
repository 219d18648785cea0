package pkgbuild

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
)

// aptLists answers questions about apt's local package lists. The host's
// apt-cache implements it; tests use canned output.
type aptLists interface {
	// Depends returns `apt-cache depends --recurse` output for roots: a
	// superset of every package their dependency closure may need.
	Depends(ctx context.Context, roots []string) (string, error)
	// Show returns `apt-cache show --no-all-versions` output for names.
	Show(ctx context.Context, names []string) (string, error)
}

// hostApt runs the host's apt-cache for packages of one architecture
// (apt's lists hold another one's after dpkg --add-architecture). Each call
// rebuilds apt's cache when the host keeps none (about two seconds on Debian
// images), so the closure asks twice in all, whatever its depth.
type hostApt struct{ arch string }

func (a hostApt) Depends(ctx context.Context, roots []string) (string, error) {
	args := []string{"depends", "--recurse", "--no-recommends", "--no-suggests",
		"--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"}
	for _, r := range roots {
		args = append(args, r+":"+a.arch)
	}
	return runAptCache(ctx, args)
}

// Show asks for each name bare and qualified: the bare name gives the
// host's package or an Architecture: all one, the qualified one the
// package of a.arch. debClosure keeps what fits a.arch.
func (a hostApt) Show(ctx context.Context, names []string) (string, error) {
	args := []string{"show", "--no-all-versions"}
	for _, n := range names {
		args = append(args, n, n+":"+a.arch)
	}
	return runAptCache(ctx, args)
}

func runAptCache(ctx context.Context, args []string) (string, error) {
	if _, err := exec.LookPath("apt-cache"); err != nil {
		return "", fmt.Errorf("apt-cache is not installed (Debian packages are resolved with the host's apt)")
	}
	cmd := exec.CommandContext(ctx, "apt-cache", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("apt-cache %s: %w: %s (check the names, or run 'apt-get update' if apt's lists are stale)",
			args[0], err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// parseDependsNames returns every package name in apt-cache depends
// output: the packages themselves, their dependencies, every alternative
// and the providers apt lists under a virtual package.
func parseDependsNames(out string) []string {
	seen := map[string]bool{}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		s := strings.TrimSpace(line)
		s = strings.TrimPrefix(s, "|")
		if _, v, ok := strings.Cut(s, ": "); ok {
			s = v
		}
		s = strings.TrimSuffix(strings.TrimPrefix(s, "<"), ">")
		s = stripArch(s)
		if s == "" || strings.ContainsAny(s, " :") || seen[s] {
			continue
		}
		seen[s] = true
		names = append(names, s)
	}
	return names
}

// stripArch drops a ":any", ":amd64" or ":arm64" qualifier.
func stripArch(name string) string {
	n, _, _ := strings.Cut(name, ":")
	return n
}

// parseRelations splits a Depends-style field into groups of alternatives,
// each a list of package names without versions or architectures:
// "a (>= 1) | b, c:any" is [[a b] [c]].
func parseRelations(field string) [][]string {
	var groups [][]string
	for _, g := range strings.Split(field, ",") {
		var alts []string
		for _, alt := range strings.Split(g, "|") {
			alt = strings.TrimSpace(alt)
			if i := strings.IndexAny(alt, " (["); i >= 0 {
				alt = alt[:i]
			}
			if alt = stripArch(alt); alt != "" {
				alts = append(alts, alt)
			}
		}
		if len(alts) > 0 {
			groups = append(groups, alts)
		}
	}
	return groups
}

// debClosure resolves each root to the packages it needs: its Depends and
// Pre-Depends, recursively, each at apt's candidate version. Of
// alternatives "a | b" the first is taken unless another one is already
// chosen. A virtual package is satisfied by a chosen package that provides
// it, else by its only provider; with several providers the user picks one.
// Packages in have are taken as present (debian: entries without
// dependencies). Only packages of arch (or Architecture: all) are taken.
// The result holds, per root, the packages in the order to unpack them:
// its new dependencies sorted by name, then the root itself, so that the
// root's own files win over a dependency's.
func debClosure(ctx context.Context, apt aptLists, arch string, roots []string, have []string) ([][]debInfo, error) {
	if len(roots) == 0 {
		return nil, nil
	}
	deps, err := apt.Depends(ctx, roots)
	if err != nil {
		return nil, fmt.Errorf("listing the dependencies of %s: %w", strings.Join(roots, ", "), err)
	}
	names := parseDependsNames(deps)
	// The present packages' Provides may satisfy virtual dependencies.
	for _, r := range slices.Concat(roots, have) {
		if !slices.Contains(names, r) {
			names = append(names, r)
		}
	}
	show, err := apt.Show(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("reading the dependencies of %s: %w", strings.Join(roots, ", "), err)
	}
	known := map[string]debInfo{}
	providers := map[string][]string{}
	for _, d := range parseStanzas(show) {
		if _, dup := known[d.Package]; dup || (d.Arch != arch && d.Arch != "all") {
			continue
		}
		known[d.Package] = d
		for _, group := range parseRelations(d.Provides) {
			providers[group[0]] = append(providers[group[0]], d.Package)
		}
	}

	r := resolver{known: known, providers: providers, chosen: map[string]bool{}}
	// Every debian: entry is taken as present while resolving the others,
	// so none is unpacked twice.
	for _, h := range slices.Concat(have, roots) {
		r.chosen[h] = true
	}
	out := make([][]debInfo, len(roots))
	for i, root := range roots {
		pkgs, err := r.walk(root)
		if err != nil {
			return nil, err
		}
		out[i] = pkgs
	}
	return out, nil
}

type resolver struct {
	known     map[string]debInfo  // real packages apt can fetch
	providers map[string][]string // virtual name -> real packages
	chosen    map[string]bool
}

// satisfied reports whether name is chosen or provided by a chosen package.
func (r *resolver) satisfied(name string) bool {
	if r.chosen[name] {
		return true
	}
	for _, p := range r.providers[name] {
		if r.chosen[p] {
			return true
		}
	}
	return false
}

// walk returns root's closure minus what is chosen already, and chooses it.
func (r *resolver) walk(root string) ([]debInfo, error) {
	info, ok := r.known[root]
	if !ok {
		return nil, fmt.Errorf("debian package %q not found in apt's package lists (or it is purely virtual): check the name, or run 'apt-get update' if the lists are stale", root)
	}
	var found []debInfo
	queue := []debInfo{info}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		for _, group := range parseRelations(d.PreDepends + ", " + d.Depends) {
			if slices.ContainsFunc(group, r.satisfied) {
				continue
			}
			pick, err := r.pick(d.Package, group)
			if err != nil {
				return nil, err
			}
			r.chosen[pick.Package] = true
			found = append(found, pick)
			queue = append(queue, pick)
		}
	}
	sort.Slice(found, func(i, j int) bool { return found[i].Package < found[j].Package })
	found = append(found, info)
	for _, d := range found {
		if d.Version == "" || d.SHA256 == "" {
			return nil, fmt.Errorf("debian package %s: apt's lists give no Version or SHA256 for it", d.Package)
		}
	}
	return found, nil
}

// pick chooses the package that satisfies one dependency group of pkg.
func (r *resolver) pick(pkg string, group []string) (debInfo, error) {
	for _, alt := range group {
		if d, ok := r.known[alt]; ok {
			return d, nil
		}
		switch provs := r.providers[alt]; len(provs) {
		case 0:
			continue
		case 1:
			return r.known[provs[0]], nil
		default:
			sort.Strings(provs)
			return debInfo{}, fmt.Errorf("debian package %s depends on the virtual package %s, which %s provide: add the one you want to debian: as an entry of its own",
				pkg, alt, strings.Join(provs, ", "))
		}
	}
	return debInfo{}, fmt.Errorf("debian package %s depends on %s, which apt's lists do not have: run 'apt-get update', or add a package providing it to debian:",
		pkg, strings.Join(group, " | "))
}

// resolveDebs resolves build.yml's debian: entries to exact packages in
// unpack order. Plain entries are the package alone; entries with
// dependencies are preceded by their closure.
func resolveDebs(ctx context.Context, apt aptLists, arch string, entries []DebianPackage) ([]debInfo, error) {
	var roots, plain []string
	alone := map[string]debInfo{}
	// Plain entries first: a wrong name gets aptShow's precise error.
	for _, e := range entries {
		if e.Dependencies {
			roots = append(roots, e.Name)
			continue
		}
		info, err := aptShow(ctx, e.Name, arch)
		if err != nil {
			return nil, err
		}
		plain = append(plain, e.Name)
		alone[e.Name] = info
	}
	closures, err := debClosure(ctx, apt, arch, roots, plain)
	if err != nil {
		return nil, err
	}
	var debs []debInfo
	for _, e := range entries {
		if !e.Dependencies {
			debs = append(debs, alone[e.Name])
			continue
		}
		debs = append(debs, closures[0]...)
		closures = closures[1:]
	}
	return debs, nil
}
