package kmod

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/keel-os/keel/internal/atomicfile"
)

// IndexProblems lists what WriteIndex could not index. The index files are
// still written without the modules or dependencies named here, so callers
// may treat it as a warning.
type IndexProblems struct {
	// Skipped are module files that could not be read, with the reason.
	Skipped []error
	// Unresolved maps a module path to dependency names found nowhere in
	// the tree nor in modules.builtin.
	Unresolved map[string][]string
	// Cycles lists modules whose dependencies loop; they get no dependency
	// list, as depmod does.
	Cycles []string
}

func (p *IndexProblems) empty() bool {
	return len(p.Skipped) == 0 && len(p.Unresolved) == 0 && len(p.Cycles) == 0
}

func (p *IndexProblems) Error() string {
	var parts []string
	for _, err := range p.Skipped {
		parts = append(parts, "skipped: "+err.Error())
	}
	paths := make([]string, 0, len(p.Unresolved))
	for m := range p.Unresolved {
		paths = append(paths, m)
	}
	sort.Strings(paths)
	for _, m := range paths {
		parts = append(parts, fmt.Sprintf("%s: unknown dependencies %s (module missing from the tree?)", m, strings.Join(p.Unresolved[m], ", ")))
	}
	if len(p.Cycles) > 0 {
		parts = append(parts, "dependency cycle among: "+strings.Join(p.Cycles, " "))
	}
	return "kernel module index incomplete: " + strings.Join(parts, "; ")
}

type indexedModule struct {
	path string // relative to the modules directory, slash-separated
	info Modinfo
	deps []int // indices of direct dependencies
}

// WriteIndex reads every module under modulesDir (lib/modules/<version>) and
// writes modules.dep and modules.alias there in depmod's text format. Lines
// follow modules.order when it exists, then path order, so the output is
// deterministic. Each modules.dep line lists the full transitive dependency
// set, users before what they use, so loading from the end of the line
// backwards is a valid order (as modprobe does).
//
// A non-nil *IndexProblems error means the files were written but some
// modules or dependencies are missing from them; any other error means
// nothing usable was written.
func WriteIndex(modulesDir string) error {
	dep, alias, problems, err := buildIndex(modulesDir)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(modulesDir, "modules.dep"), dep, 0o644); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(modulesDir, "modules.alias"), alias, 0o644); err != nil {
		return err
	}
	if problems.empty() {
		return nil
	}
	return problems
}

// buildIndex returns the contents of modules.dep and modules.alias for the
// modules under modulesDir, without writing anything.
func buildIndex(modulesDir string) (depFile, aliasFile []byte, _ *IndexProblems, _ error) {
	mods, problems, err := scanModules(modulesDir)
	if err != nil {
		return nil, nil, nil, err
	}
	builtin, err := readBuiltin(filepath.Join(modulesDir, "modules.builtin"))
	if err != nil {
		return nil, nil, nil, err
	}
	resolveDeps(mods, builtin, problems)
	sortIdx := topoOrder(mods, problems)

	var dep, alias bytes.Buffer
	alias.WriteString("# Aliases extracted from modules themselves.\n")
	for i, m := range mods {
		dep.WriteString(m.path + ":")
		for _, d := range closure(mods, i, sortIdx) {
			dep.WriteString(" " + mods[d].path)
		}
		dep.WriteString("\n")
		for _, a := range m.info.Aliases {
			fmt.Fprintf(&alias, "alias %s %s\n", a, m.info.Name)
		}
	}
	return dep.Bytes(), alias.Bytes(), problems, nil
}

// scanModules finds and reads every module file, ordered by modules.order
// and then by path. When two files give the same module name, the one under
// updates/ wins, then the first in path order, like depmod's default search.
func scanModules(dir string) ([]*indexedModule, *IndexProblems, error) {
	problems := &IndexProblems{Unresolved: map[string][]string{}}
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && isModuleFile(d.Name()) {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			paths = append(paths, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("scan kernel modules in %s: %w", dir, err)
	}
	order, err := readOrder(filepath.Join(dir, "modules.order"))
	if err != nil {
		return nil, nil, err
	}
	sort.SliceStable(paths, func(i, j int) bool {
		oi, iok := orderOf(order, paths[i])
		oj, jok := orderOf(order, paths[j])
		switch {
		case iok && jok:
			return oi < oj
		case iok != jok:
			return iok
		}
		return paths[i] < paths[j]
	})

	var mods []*indexedModule
	byName := map[string]int{}
	for _, rel := range paths {
		info, err := ReadModinfo(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			problems.Skipped = append(problems.Skipped, err)
			continue
		}
		if prev, dup := byName[info.Name]; dup {
			if strings.HasPrefix(rel, "updates/") && !strings.HasPrefix(mods[prev].path, "updates/") {
				mods[prev] = &indexedModule{path: rel, info: info}
			}
			continue
		}
		byName[info.Name] = len(mods)
		mods = append(mods, &indexedModule{path: rel, info: info})
	}
	return mods, problems, nil
}

// orderOf finds a module path in modules.order, which names uncompressed
// files even when the tree holds compressed ones.
func orderOf(order map[string]int, rel string) (int, bool) {
	for _, ext := range []string{".gz", ".zst", ".xz"} {
		rel = strings.TrimSuffix(rel, ext)
	}
	i, ok := order[rel]
	return i, ok
}

func resolveDeps(mods []*indexedModule, builtin map[string]bool, problems *IndexProblems) {
	byName := make(map[string]int, len(mods))
	for i, m := range mods {
		byName[m.info.Name] = i
	}
	for _, m := range mods {
		seen := map[int]bool{}
		for _, name := range m.info.Depends {
			j, ok := byName[name]
			if !ok {
				if !builtin[name] {
					problems.Unresolved[m.path] = append(problems.Unresolved[m.path], name)
				}
				continue
			}
			if !seen[j] {
				seen[j] = true
				m.deps = append(m.deps, j)
			}
		}
	}
}

// topoOrder gives every module a rank such that a module ranks before all
// it depends on: modules nobody uses come first (Kahn's algorithm, from the
// module list's end, as depmod does). Modules in a cycle rank last.
func topoOrder(mods []*indexedModule, problems *IndexProblems) []int {
	users := make([]int, len(mods))
	for _, m := range mods {
		for _, d := range m.deps {
			users[d]++
		}
	}
	var stack []int
	for i := range mods {
		if users[i] == 0 {
			stack = append(stack, i)
		}
	}
	rank := make([]int, len(mods))
	for i := range rank {
		rank[i] = -1
	}
	n := 0
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		rank[i] = n
		n++
		for _, d := range mods[i].deps {
			users[d]--
			if users[d] == 0 {
				stack = append(stack, d)
			}
		}
	}
	for i, m := range mods {
		if rank[i] < 0 {
			problems.Cycles = append(problems.Cycles, m.path)
			rank[i] = n
			n++
			m.deps = nil
		}
	}
	return rank
}

// closure returns every module mods[i] needs, directly or not, ordered by
// rank.
func closure(mods []*indexedModule, i int, rank []int) []int {
	seen := map[int]bool{i: true}
	var out []int
	var walk func(int)
	walk = func(j int) {
		for _, d := range mods[j].deps {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
				walk(d)
			}
		}
	}
	walk(i)
	sort.Slice(out, func(a, b int) bool { return rank[out[a]] < rank[out[b]] })
	return out
}

// readOrder reads modules.order; a missing file gives an empty order.
func readOrder(p string) (map[string]int, error) {
	order := map[string]int{}
	lines, err := readLines(p)
	if err != nil {
		return nil, err
	}
	for i, l := range lines {
		if _, dup := order[l]; !dup {
			order[l] = i
		}
	}
	return order, nil
}

// readBuiltin reads modules.builtin into a set of module names; a missing
// file gives an empty set.
func readBuiltin(p string) (map[string]bool, error) {
	lines, err := readLines(p)
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(lines))
	for _, l := range lines {
		set[NameFromPath(l)] = true
	}
	return set, nil
}

// readLines returns the non-empty, non-comment lines of a file, trimmed. A
// missing file is not an error.
func readLines(p string) ([]string, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		lines = append(lines, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return lines, nil
}
