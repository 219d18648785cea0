package build

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-os/keel/internal/kmod"
	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/kernel"
	"github.com/keel-os/keel/packer/spec"
)

// moduleChoice says which of the kernel image's modules go into the image.
type moduleChoice struct {
	// all keeps every module (`kernel: modules: all`).
	all bool
	// base are names or globs the kernel may lack (the default set, and
	// what the spec's /etc/modules lists).
	base []string
	// aliases are module aliases the spec implies ("fs-xfs" for a mount of
	// type xfs); the kernel may lack them.
	aliases []string
	// extra are the spec's names or globs; each must match a module.
	extra []string
	// extraPos is where each of extra was written.
	extraPos []spec.Position
}

// newModuleChoice is the default set widened by the spec's kernel.modules.
func newModuleChoice(m *spec.Modules) moduleChoice {
	c := moduleChoice{}
	for _, g := range defaultModules {
		c.base = append(c.base, g.names...)
	}
	if m != nil {
		c.all = m.All
		c.extra = m.Names
		c.extraPos = m.NamePos
	}
	return c
}

// specModules is the module choice for s: kernel.modules, plus what the
// spec itself shows it needs: the modules its /etc/modules file lists
// (init loads them at boot) and the filesystems its containers mount
// (through their fs-TYPE aliases).
func specModules(s *spec.Spec) moduleChoice {
	c := newModuleChoice(s.Kernel.Modules)
	for _, f := range s.Files {
		if strings.Trim(path.Clean("/"+f.Path), "/") != "etc/modules" || f.Contents == nil {
			continue
		}
		for _, line := range strings.Split(*f.Contents, "\n") {
			line, _, _ = strings.Cut(line, "#")
			if fields := strings.Fields(line); len(fields) > 0 {
				c.base = append(c.base, fields[0])
			}
		}
	}
	seen := map[string]bool{}
	for _, list := range [][]*spec.Image{s.Onboot, s.Onshutdown, s.Services} {
		for _, img := range list {
			if img == nil || img.Mounts == nil {
				continue
			}
			for _, m := range *img.Mounts {
				if m.Type == "" || seen[m.Type] || strings.ContainsAny(m.Type, " \t/") {
					continue
				}
				seen[m.Type] = true
				c.aliases = append(c.aliases, "fs-"+m.Type)
			}
		}
	}
	return c
}

// kernelModuleDefault applies the kernel image's recommendation
// (kernel.ModulesLabel) to c when the spec makes no choice of its own
// (m is nil): a kernel for physical machines keeps every module. A spec
// that lists modules gets the default set and its list whatever the
// kernel recommends, so one who knows the hardware can stay lean.
func kernelModuleDefault(c *moduleChoice, m *spec.Modules, kimg v1.Image, ref string) error {
	if m != nil {
		return nil
	}
	v, ok, err := image.Label(kimg, kernel.ModulesLabel)
	switch {
	case err != nil:
		return fmt.Errorf("kernel: reading the labels of %s: %w", ref, err)
	case !ok || v == "":
	case v == kernel.ModulesAll:
		c.all = true
	default:
		return fmt.Errorf("kernel: the image %s recommends modules %q through its label %s; keel knows only %q: set kernel.modules in the spec to choose", ref, v, kernel.ModulesLabel, kernel.ModulesAll)
	}
	return nil
}

// key names the choice in a segment's cache key.
func (c moduleChoice) key() string {
	if c.all {
		return "modules: all"
	}
	return "modules v1: " + strings.Join(c.base, ",") + " + " + strings.Join(c.aliases, ",") + " + " + strings.Join(c.extra, ",")
}

// moduleIndex is one lib/modules/<version> directory's index files.
type moduleIndex struct {
	dir                 string // "lib/modules/<version>/"
	dep, alias, builtin string
	paths               map[string]string   // module name -> file
	deps                map[string][]string // module name -> its dependencies' files
	builtinSet          map[string]bool
}

// choose returns the modules to keep: the closure of the chosen names.
// kernelRef names the kernel image for errors.
func (idx *moduleIndex) choose(c moduleChoice, kernelRef string) (map[string]bool, error) {
	names := make([]string, 0, len(idx.paths))
	for n := range idx.paths {
		names = append(names, n)
	}
	sort.Strings(names)
	var want []string
	for _, p := range c.base {
		want = append(want, idx.match(p, names)...)
	}
	if len(c.aliases) > 0 {
		wanted := map[string]bool{}
		for _, a := range c.aliases {
			wanted[a] = true
		}
		for _, line := range strings.Split(idx.alias, "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "alias" && wanted[f[1]] {
				want = append(want, kmod.Normalize(f[2]))
			}
		}
	}
	var errs []error
	for i, p := range c.extra {
		got := idx.match(p, names)
		if len(got) == 0 && !idx.builtinSet[kmod.Normalize(p)] {
			where := ""
			if i < len(c.extraPos) {
				where = c.extraPos[i].String() + ": "
			}
			errs = append(errs, fmt.Errorf("%skernel.modules: %q matches no module of the kernel image %s%s", where, p, kernelRef, similarModules(p, names)))
		}
		want = append(want, got...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return kmod.Closure(want, idx.deps), nil
}

// match returns the module names pattern (a name or a glob) matches.
func (idx *moduleIndex) match(pattern string, names []string) []string {
	pattern = kmod.Normalize(pattern)
	if !strings.ContainsAny(pattern, "*?[") {
		if _, ok := idx.paths[pattern]; ok {
			return []string{pattern}
		}
		return nil
	}
	var out []string
	for _, n := range names {
		if ok, _ := path.Match(pattern, n); ok {
			out = append(out, n)
		}
	}
	return out
}

// similarModules suggests names close to a mistyped one.
func similarModules(p string, names []string) string {
	stem := strings.Trim(kmod.Normalize(p), "*?[]")
	if len(stem) < 3 {
		return ""
	}
	var near []string
	for _, n := range names {
		if strings.Contains(n, stem) || strings.Contains(stem, n) && len(n) >= 3 {
			near = append(near, n)
		}
	}
	if len(near) == 0 {
		return " (see modules.dep in the kernel image's kernel.tar for the names)"
	}
	if len(near) > 5 {
		near = append(near[:5], "...")
	}
	return " (did you mean " + strings.Join(near, ", ") + "?)"
}

// readModuleIndexes reads the index files of each lib/modules/<version>
// in the kernel image's modules tarball.
func readModuleIndexes(kf kernelFiles) (map[string]*moduleIndex, error) {
	kt, err := kf.modules()
	if err != nil {
		return nil, err
	}
	defer kt.Close()
	out := map[string]*moduleIndex{}
	tr := tar.NewReader(kt)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading the kernel image's modules: %w", err)
		}
		dir, file, ok := splitModulePath(h.Name)
		if !ok || h.Typeflag != tar.TypeReg || strings.Contains(file, "/") {
			continue
		}
		switch file {
		case "modules.dep", "modules.alias", "modules.builtin":
		default:
			continue
		}
		if h.Size > 64<<20 {
			return nil, fmt.Errorf("the kernel image's %s is %d bytes: too large for a module index", h.Name, h.Size)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("reading the kernel image's %s: %w", h.Name, err)
		}
		idx := out[dir]
		if idx == nil {
			idx = &moduleIndex{dir: dir}
			out[dir] = idx
		}
		switch file {
		case "modules.dep":
			idx.dep = string(b)
		case "modules.alias":
			idx.alias = string(b)
		case "modules.builtin":
			idx.builtin = string(b)
		}
	}
	for dir, idx := range out {
		if idx.dep == "" {
			delete(out, dir) // no index: nothing to choose by
			continue
		}
		if err := idx.parse(); err != nil {
			return nil, fmt.Errorf("the kernel image's %s%w", dir, err)
		}
	}
	return out, nil
}

// parse reads the index files' text into the lookup tables.
func (idx *moduleIndex) parse() error {
	var err error
	if idx.paths, idx.deps, err = kmod.ParseDep(idx.dep); err != nil {
		return err
	}
	idx.builtinSet = map[string]bool{}
	for _, l := range strings.Split(idx.builtin, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			idx.builtinSet[kmod.NameFromPath(l)] = true
		}
	}
	return nil
}

// splitModulePath splits a tar entry name into "lib/modules/<version>/"
// and the path below it.
func splitModulePath(name string) (dir, rel string, ok bool) {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	rest, ok := strings.CutPrefix(name, modulesPrefix)
	if !ok {
		return "", "", false
	}
	version, rel, ok := strings.Cut(rest, "/")
	if !ok || version == "" {
		return "", "", false
	}
	return modulesPrefix + version + "/", rel, true
}

// chosenModules returns the kernel image's modules tarball with only the
// modules c chooses (and what they need), their index rewritten to match
// and the rest listed in kmod.OmittedFile, so init can name a module a
// device wants that the image lacks. A kernel image without modules.dep
// keeps every module: there is nothing to choose by.
func chosenModules(kf kernelFiles, c moduleChoice) (io.ReadCloser, error) {
	if c.all {
		return kf.modules()
	}
	idxs, err := readModuleIndexes(kf)
	if err != nil {
		return nil, err
	}
	if len(idxs) == 0 && len(c.extra) > 0 {
		where := ""
		if len(c.extraPos) > 0 {
			where = c.extraPos[0].String() + ": "
		}
		return nil, fmt.Errorf("%skernel.modules: the kernel image %s has no modules.dep to choose modules by (or no modules at all): remove kernel.modules, or give the image an indexed kernel.tar", where, kf.ref)
	}
	type subset struct {
		*kmod.Subset
		dirs map[string]bool // directories holding kept modules, relative
	}
	subs := map[string]subset{}
	for dir, idx := range idxs {
		keep, err := idx.choose(c, kf.ref)
		if err != nil {
			return nil, err
		}
		s, err := kmod.SubsetIndex(idx.dep, idx.alias, keep)
		if err != nil {
			return nil, fmt.Errorf("the kernel image's %s: %w", dir, err)
		}
		dirs := map[string]bool{}
		for f := range s.Files {
			for d := path.Dir(f); d != "." && !dirs[d]; d = path.Dir(d) {
				dirs[d] = true
			}
		}
		subs[dir] = subset{s, dirs}
	}
	kt, err := kf.modules()
	if err != nil {
		return nil, err
	}
	return editTar(kt, func(h *tar.Header) (keep bool, body []byte) {
		dir, rel, ok := splitModulePath(h.Name)
		if !ok {
			return true, nil
		}
		s, ok := subs[dir]
		switch {
		case !ok || rel == "":
			return true, nil
		case h.Typeflag == tar.TypeDir:
			// Only directories that still hold a module; the stream
			// creates any other file's missing parents.
			return s.dirs[rel], nil
		case rel == "modules.dep":
			return true, s.Dep
		case rel == "modules.alias":
			return true, s.Alias
		case kmod.IsModuleFile(rel):
			return s.Files[rel], nil
		}
		return true, nil
	}, func(tw *tar.Writer) error {
		dirs := make([]string, 0, len(subs))
		for d := range subs {
			dirs = append(dirs, d)
		}
		sort.Strings(dirs)
		for _, d := range dirs {
			om := subs[d].Omitted
			h := &tar.Header{Name: d + kmod.OmittedFile, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(om))}
			if err := tw.WriteHeader(h); err != nil {
				return err
			}
			if _, err := tw.Write(om); err != nil {
				return err
			}
		}
		return nil
	}), nil
}

// editTar streams src, letting edit drop an entry or replace a regular
// file's body, and then lets tail add entries.
func editTar(src io.ReadCloser, edit func(*tar.Header) (keep bool, body []byte), tail func(*tar.Writer) error) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		defer src.Close()
		tr := tar.NewReader(src)
		tw := tar.NewWriter(pw)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			keep, body := edit(h)
			if !keep {
				continue
			}
			var r io.Reader = tr
			if body != nil && h.Typeflag == tar.TypeReg {
				h.Size = int64(len(body))
				r = bytes.NewReader(body)
			}
			if err := tw.WriteHeader(h); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, r); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
		if err := tail(tw); err != nil {
			pw.CloseWithError(err)
			return
		}
		pw.CloseWithError(tw.Close())
	}()
	return pr
}
