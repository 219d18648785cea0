package pkgbuild

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	kbundle "github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/progress"
)

// fromIsDir says whether from: names a package directory rather than an
// image: a path, written with a leading ".", or "/", so that a bare name
// is never mistaken for one.
func fromIsDir(from string) bool {
	return strings.HasPrefix(from, ".") || strings.HasPrefix(from, "/")
}

// checkFrom accepts a package directory or an image pinned by digest. A
// registry tag is refused: it can move without anything in the package
// changing, and the package tag would then name two different images.
func checkFrom(from string) error {
	if from == "" || fromIsDir(from) {
		return nil
	}
	if _, err := name.NewDigest(from); err != nil {
		return fmt.Errorf("from %q: want a package directory (./dir or ../dir, relative to build.yml) "+
			"or an image pinned by digest (name@sha256:...), because a tag can change without changing this package's tag", from)
	}
	return nil
}

// resolveBase returns the reference of from:'s image: the base package's
// (computing its tag, so that any change to the base changes this
// package's tag) or the pinned image's.
func (p *Package) resolveBase(ctx context.Context) (string, error) {
	if !fromIsDir(p.Spec.From) {
		return image.Normalize(p.Spec.From)
	}
	dir := p.Spec.From
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(p.Dir, dir)
	}
	dir = filepath.Clean(dir)
	chain := append(slices.Clone(p.chain), p.Dir)
	if slices.Contains(chain, dir) {
		return "", fmt.Errorf("from %s: the packages name each other in from: %s", p.Spec.From, strings.Join(append(chain, dir), " -> "))
	}
	base, err := Load(dir)
	if err != nil {
		return "", fmt.Errorf("from %s: %w", p.Spec.From, err)
	}
	if base.Spec.Kernel != nil {
		return "", fmt.Errorf("from %s: a kernel package cannot be a base image", p.Spec.From)
	}
	base.chain, base.Arch, base.TagCache = chain, p.Arch, p.TagCache
	ref, err := base.refCtx(ctx)
	if err != nil {
		return "", fmt.Errorf("from %s: %w", p.Spec.From, err)
	}
	p.base = base
	return ref, nil
}

// baseImage makes from:'s image available in the cache, building the base
// package or pulling the pinned image when it is missing, and returns it.
func (p *Package) baseImage(ctx context.Context, opt Options, log io.Writer) (v1.Image, error) {
	if p.base != nil {
		// Force and UpdateLock are about the package asked for, not its base.
		bopt := opt
		bopt.Force, bopt.UpdateLock = false, false
		if _, err := buildLoaded(ctx, p.base, bopt, log); err != nil {
			return nil, fmt.Errorf("from %s: %w", p.Spec.From, err)
		}
	} else {
		has, err := opt.Cache.HasArch(p.baseRef, p.arch())
		if err != nil {
			return nil, err
		}
		if !has {
			puller := image.Puller{Cache: opt.Cache, Progress: &progress.Lines{W: log}, Arch: p.arch()}
			if err := puller.Pull(ctx, p.baseRef); err != nil {
				return nil, fmt.Errorf("from %s: %w", p.Spec.From, err)
			}
		}
	}
	return opt.Cache.GetArch(p.baseRef, p.arch())
}

// imageConfig is the image config: the base's (nil without from:) with
// each field this package sets replacing the base's, Env merged by
// variable name, and this package's config: label replacing the base's.
func (p *Package) imageConfig(base *v1.Config) (v1.Config, error) {
	var cfg v1.Config
	if base != nil {
		cfg = *base.DeepCopy()
	}
	s := p.Spec
	if s.Entrypoint != nil {
		cfg.Entrypoint = s.Entrypoint
	}
	if s.Cmd != nil {
		cfg.Cmd = s.Cmd
	}
	if s.Workdir != "" {
		cfg.WorkingDir = s.Workdir
	}
	cfg.Env = mergeEnv(cfg.Env, s.Env)
	label, ok, err := s.mobyConfig()
	if err != nil {
		return v1.Config{}, fmt.Errorf("config: %w", err)
	}
	if ok {
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		cfg.Labels[kbundle.LabelKey] = label
	}
	return cfg, nil
}

// mergeEnv returns base with each NAME=value of over replacing base's
// NAME in place or appended, the way Dockerfile ENV layers on a base.
func mergeEnv(base, over []string) []string {
	if len(over) == 0 {
		return base
	}
	out := slices.Clone(base)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		i := slices.IndexFunc(out, func(e string) bool {
			ek, _, _ := strings.Cut(e, "=")
			return ek == k
		})
		if i >= 0 {
			out[i] = kv
		} else {
			out = append(out, kv)
		}
	}
	return out
}
