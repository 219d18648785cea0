package pkgbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/kernel"
	"github.com/keel-os/keel/packer/sbom"
)

// formatVersion is hashed into every tag. Bump it whenever the same inputs
// would produce a different image (tar layout, kernel image layout, module
// index format), so stale cache entries are not reused.
const formatVersion = "keel-pkgbuild/1"

// TagLength is the number of hex digits of the input hash used as the tag:
// 80 bits, far beyond accidental collisions between package versions.
const TagLength = 20

// Options control Build.
type Options struct {
	Cache *image.Cache
	// DebCache keeps downloaded .deb files; empty means <cache dir>/debs.
	DebCache string
	// Stdout receives progress lines; nil discards them.
	Stdout io.Writer
	// Force rebuilds even when the reference is already in the cache.
	Force bool
	// UpdateLock takes apt's current Debian packages instead of the lock
	// file's, and rewrites the lock file.
	UpdateLock bool
	// Arch is the architecture to build for: one of image.Architectures,
	// or ArchAll for an image index holding every one of them. Empty
	// means amd64.
	Arch string
}

// ArchAll, as Options.Arch, builds the package for every architecture and
// stores a multi-platform image index.
const ArchAll = "all"

// arch is the architecture the package is built for.
func (p *Package) arch() string {
	if p.Arch == "" {
		return image.Architecture
	}
	return p.Arch
}

// arches are the architectures the package is built for, in
// image.Architectures order.
func (p *Package) arches() []string {
	if len(p.Spec.Arches) == 0 {
		return image.Architectures
	}
	var out []string
	for _, a := range image.Architectures {
		if slices.Contains(p.Spec.Arches, a) {
			out = append(out, a)
		}
	}
	return out
}

// Tag returns the package's content tag: the first TagLength hex digits of
// a SHA-256 over every input (build.yml, file sources and modes, the Go
// version and every main-module Go source file the binaries depend on plus
// go.mod/go.sum, and the exact Debian package versions apt would fetch).
// It compiles nothing.
func (p *Package) Tag() (string, error) { return p.tagCtx(context.Background()) }

// Ref returns <org>/<image>:<tag>.
func (p *Package) Ref() (string, error) { return p.refCtx(context.Background()) }

func (p *Package) refCtx(ctx context.Context) (string, error) {
	tag, err := p.tagCtx(ctx)
	if err != nil {
		return "", err
	}
	return p.Spec.Org + "/" + p.Spec.Image + ":" + tag, nil
}

func (p *Package) tagCtx(ctx context.Context) (string, error) {
	if p.tag != "" {
		return p.tag, nil
	}
	if err := image.CheckArch(p.arch()); err != nil {
		return "", err
	}
	if !slices.Contains(p.arches(), p.arch()) {
		return "", fmt.Errorf("%s/%s is built for %s only (arches: in %s): build it for one of those, or add %s to its arches", p.Spec.Org, p.Spec.Image, strings.Join(p.arches(), ", "), filepath.Join(p.Dir, FileName), p.arch())
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\nbuild.yml %d\n", formatVersion, len(p.raw))
	h.Write(p.raw)
	if p.Spec.From != "" {
		ref, err := p.resolveBase(ctx)
		if err != nil {
			return "", err
		}
		p.baseRef = ref
		fmt.Fprintf(h, "from %s\n", ref)
	}
	// amd64 tags hash no architecture: they were made before there was a
	// choice and stay valid.
	if p.arch() != image.Architecture {
		fmt.Fprintf(h, "arch %s\n", p.arch())
	}

	if len(p.Spec.Images) > 0 {
		refs, err := p.resolveImages(ctx)
		if err != nil {
			return "", err
		}
		for i, ref := range refs {
			a := p.Spec.Images[i]
			fmt.Fprintf(h, "image %s name %s path %s\n", ref, a.Name, a.Path)
		}
	}

	for i, f := range p.Spec.Files {
		if f.Source == "" {
			continue
		}
		src, st, err := p.source(f)
		if err != nil {
			return "", fmt.Errorf("files[%d]: %w", i, err)
		}
		fmt.Fprintf(h, "source %s mode %o\n", f.Source, st.Mode())
		if err := hashFile(h, src, f.Source); err != nil {
			return "", err
		}
	}

	if len(p.Spec.Go) > 0 {
		root, err := moduleRoot(p.Dir)
		if err != nil {
			return "", err
		}
		v, err := goVersionCached(ctx, p.TagCache, root)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "go %s\n", v)
		// Each binary's `go list -deps` is a process of its own and most of
		// the time a tag takes: run them together, hash in order.
		sums := make([]bytes.Buffer, len(p.Spec.Go))
		errs := make([]error, len(p.Spec.Go))
		var wg sync.WaitGroup
		for i, g := range p.Spec.Go {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out []byte
				out, errs[i] = goSourcesHash(ctx, p.TagCache, root, g, p.arch())
				sums[i].Write(out)
			}()
		}
		wg.Wait()
		for i, g := range p.Spec.Go {
			if errs[i] != nil {
				return "", fmt.Errorf("go package %s: %w", g.Package, errs[i])
			}
			opts, _ := json.Marshal(g)
			fmt.Fprintf(h, "binary %s\n", opts)
			h.Write(sums[i].Bytes())
		}
	}

	// The build uses exactly the versions hashed here, even if apt's
	// lists change in between.
	debs, kern, err := p.pinned(ctx)
	if err != nil {
		return "", err
	}
	p.debs, p.kernelDeb = debs, kern
	for _, info := range debs {
		fmt.Fprintf(h, "deb %s\n", info)
	}
	if p.Spec.Kernel != nil {
		fmt.Fprintf(h, "kernel %s\n", kern)
	}
	p.tag = hex.EncodeToString(h.Sum(nil))[:TagLength]
	return p.tag, nil
}

// source resolves a files entry's source relative to the package dir.
func (p *Package) source(f File) (string, fs.FileInfo, error) {
	src := f.Source
	if !filepath.IsAbs(src) {
		src = filepath.Join(p.Dir, src)
	}
	st, err := os.Stat(src)
	if err != nil {
		return "", nil, fmt.Errorf("source %s: %w", f.Source, err)
	}
	if !st.Mode().IsRegular() {
		return "", nil, fmt.Errorf("source %s is not a regular file (list the files of a directory one by one)", f.Source)
	}
	return src, st, nil
}

func hashFile(h io.Writer, p, label string) error {
	sum, err := sha256File(p)
	if err != nil {
		return fmt.Errorf("hashing %s: %w", label, err)
	}
	fmt.Fprintf(h, "file %s %s\n", label, sum)
	return nil
}

// tagCacheDir is where the records of Go tag inputs live (see gocache.go).
func tagCacheDir(c *image.Cache) string {
	return filepath.Join(c.Dir(), "gotags")
}

// Build builds the package in dir into opt.Cache and returns its reference.
// When the reference is already cached it does nothing unless opt.Force.
// A from: base package missing from the cache is built first. The cache
// only changes when the whole build succeeded.
func Build(ctx context.Context, dir string, opt Options) (string, error) {
	if opt.Cache == nil {
		return "", errors.New("pkgbuild: no image cache given")
	}
	progress := opt.Stdout
	if progress == nil {
		progress = io.Discard
	}
	if opt.DebCache == "" {
		opt.DebCache = opt.Cache.DebDir()
	}
	if opt.Arch == ArchAll {
		return buildAll(ctx, dir, opt, progress)
	}
	p, err := Load(dir)
	if err != nil {
		return "", err
	}
	p.UpdateLock, p.Arch, p.TagCache = opt.UpdateLock, opt.Arch, tagCacheDir(opt.Cache)
	return buildLoaded(ctx, p, opt, progress)
}

func buildLoaded(ctx context.Context, p *Package, opt Options, progress io.Writer) (string, error) {
	ref, err := p.refCtx(ctx)
	if err != nil {
		return "", err
	}
	if !opt.Force {
		has, err := opt.Cache.HasArch(ref, p.arch())
		if err != nil {
			return "", err
		}
		if has {
			withSBOM, err := hasSBOM(opt.Cache, ref, p.arch())
			if err != nil {
				return "", err
			}
			if withSBOM {
				fmt.Fprintf(progress, "%s is up to date\n", ref)
				return ref, nil
			}
			// Built before packages had SBOMs: the rebuild gives the
			// same image, and its SBOM.
			fmt.Fprintf(progress, "%s has no SBOM yet\n", ref)
		}
	}
	fmt.Fprintf(progress, "building %s for %s\n", ref, p.arch())
	img, doc, err := p.build(ctx, opt, progress)
	if err != nil {
		return "", fmt.Errorf("building %s: %w", ref, err)
	}
	if err := opt.Cache.Put(ref, img); err != nil {
		return "", err
	}
	if err := attachSBOM(opt.Cache, ref, p.arch(), doc); err != nil {
		return "", fmt.Errorf("storing the SBOM of %s: %w", ref, err)
	}
	return ref, nil
}

// build makes the package image and its SBOM (see package sbom).
func (p *Package) build(ctx context.Context, opt Options, progress io.Writer) (v1.Image, []byte, error) {
	bom := p.newSBOM()
	if p.Spec.Kernel != nil {
		deb, err := fetchDeb(ctx, opt.DebCache, p.kernelDeb, progress)
		if err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(progress, "  kernel from %s\n", filepath.Base(deb))
		// In a kernel package, debian: lists firmware packages.
		kopt := kernel.Options{Modules: p.Spec.Kernel.Modules}
		for _, info := range p.debs {
			fw, err := fetchDeb(ctx, opt.DebCache, info, progress)
			if err != nil {
				return nil, nil, err
			}
			kopt.Firmware = append(kopt.Firmware, fw)
		}
		img, version, err := kernel.FromDeb(deb, p.arch(), kopt)
		if err != nil {
			return nil, nil, err
		}
		fmt.Fprintf(progress, "  kernel version %s\n", version)
		addDebs(bom, append([]debInfo{p.kernelDeb}, p.debs...))
		doc, err := encodeSBOM(bom)
		return img, doc, err
	}
	img, err := p.buildTree(ctx, opt, progress, bom)
	if err != nil {
		return nil, nil, err
	}
	doc, err := encodeSBOM(bom)
	return img, doc, err
}

func (p *Package) buildTree(ctx context.Context, opt Options, progress io.Writer, bom *sbom.Builder) (v1.Image, error) {

	tmp, err := os.MkdirTemp("", "keel-pkg-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	tree := image.NewTree()

	// Later sources override earlier ones: Debian files, then Go
	// binaries, then the package's own files.
	for i, info := range p.debs {
		deb, err := fetchDeb(ctx, opt.DebCache, info, progress)
		if err != nil {
			return nil, err
		}
		if err := addDeb(ctx, tree, deb, filepath.Join(tmp, "deb", strconv.Itoa(i))); err != nil {
			return nil, fmt.Errorf("debian package %s: %w", info.Package, err)
		}
	}
	addDebs(bom, p.debs)

	if len(p.Spec.Go) > 0 {
		root, err := moduleRoot(p.Dir)
		if err != nil {
			return nil, err
		}
		for i, g := range p.Spec.Go {
			fmt.Fprintf(progress, "  go build %s\n", g.Package)
			out := filepath.Join(tmp, "go", strconv.Itoa(i))
			if err := buildGo(ctx, root, g, p.arch(), out); err != nil {
				return nil, err
			}
			if err := tree.AddFile(g.Output, 0o755, out); err != nil {
				return nil, fmt.Errorf("go[%d] (%s): %w", i, g.Package, err)
			}
			if err := addGoModules(bom, out); err != nil {
				return nil, fmt.Errorf("go[%d] (%s): %w", i, g.Package, err)
			}
		}
	}

	if err := p.addImages(ctx, tree, opt, tmp, progress); err != nil {
		return nil, err
	}

	for i, f := range p.Spec.Files {
		if err := p.addFile(tree, f); err != nil {
			return nil, fmt.Errorf("files[%d] (%s): %w", i, f.Path, err)
		}
	}
	p.addFiles(bom, tree)

	if p.Spec.From == "" {
		cfg, err := p.imageConfig(nil)
		if err != nil {
			return nil, err
		}
		return image.NewImageArch(tree, cfg, p.arch())
	}
	base, err := p.baseImage(ctx, opt, progress)
	if err != nil {
		return nil, err
	}
	if err := includeBase(bom, opt.Cache, p.baseRef, base); err != nil {
		return nil, fmt.Errorf("from %s: %w", p.Spec.From, err)
	}
	baseCfg, err := image.Config(base)
	if err != nil {
		return nil, fmt.Errorf("from %s: %w", p.Spec.From, err)
	}
	cfg, err := p.imageConfig(&baseCfg)
	if err != nil {
		return nil, err
	}
	return image.Append(base, tree, cfg)
}

// concat joins the files of the tree matching pattern, in sorted order,
// the way Debian's update-ca-certificates builds its bundle at install
// time: a part without a final newline gets one, so PEM blocks never run
// together.
func concat(tree *image.Tree, pattern string) ([]byte, error) {
	paths, err := tree.Glob(pattern)
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("concat %s matches no file of the image (files come from debian:, go: and earlier files: entries)", pattern)
	}
	var buf bytes.Buffer
	for _, p := range paths {
		b, err := tree.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("concat %s: %w", pattern, err)
		}
		buf.Write(b)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			buf.WriteByte('\n')
		}
	}
	return buf.Bytes(), nil
}

func (p *Package) addFile(tree *image.Tree, f File) error {
	var mode fs.FileMode
	if f.Mode != "" {
		m, err := parseMode(f.Mode)
		if err != nil {
			return err
		}
		mode = m
	}
	switch {
	case f.Source != "":
		src, st, err := p.source(f)
		if err != nil {
			return err
		}
		if f.Mode == "" {
			mode = st.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		}
		return tree.AddFile(f.Path, mode, src)
	case f.Contents != nil:
		if f.Mode == "" {
			mode = 0o644
		}
		return tree.AddBytes(f.Path, mode, []byte(*f.Contents))
	case f.Directory:
		if f.Mode == "" {
			mode = 0o755
		}
		return tree.AddDir(f.Path, mode)
	case f.Remove:
		found, err := tree.Remove(f.Path)
		if err == nil && !found {
			err = fmt.Errorf("remove: nothing at %s in the image (files come from debian:, go: and earlier files: entries)", f.Path)
		}
		return err
	case f.Concat != "":
		if f.Mode == "" {
			mode = 0o644
		}
		data, err := concat(tree, f.Concat)
		if err != nil {
			return err
		}
		return tree.AddBytes(f.Path, mode, data)
	case f.Link != "":
		return tree.AddHardLink(f.Path, f.Link)
	default:
		return tree.AddSymlink(f.Path, f.Symlink)
	}
}
