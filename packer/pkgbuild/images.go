package pkgbuild

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/keel-os/keel/packer/image"
)

// ImageArchive is one entry of images:: another package's image, written
// into this one as an image archive (the `docker save` layout that
// `ctr images import`, containerd's client and `docker load` read) under
// the name a runtime will know it by. It is how a system carries the
// images a container runtime needs without a registry: Kubernetes nodes
// import them into containerd at boot.
type ImageArchive struct {
	// Package is the image's package directory, relative to build.yml.
	Package string `yaml:"package"`
	// Name is the reference the archive gives the image, such as
	// registry.k8s.io/pause:3.10.2.
	Name string `yaml:"name"`
	// Path is where the archive goes in this image.
	Path string `yaml:"path"`
}

func checkImages(images []ImageArchive) error {
	for i, a := range images {
		if !fromIsDir(a.Package) {
			return fmt.Errorf("images[%d]: package %q must be a package directory (./dir or ../dir, relative to build.yml)", i, a.Package)
		}
		if _, err := name.NewTag(a.Name, name.StrictValidation); err != nil {
			return fmt.Errorf("images[%d] (%s): name %q must be a full image reference with a tag, like registry.k8s.io/pause:3.10.2: %w", i, a.Package, a.Name, err)
		}
		if !strings.HasPrefix(a.Path, "/") || path.Clean(a.Path) == "/" {
			return fmt.Errorf("images[%d] (%s): 'path' must be an absolute path below /, got %q", i, a.Package, a.Path)
		}
	}
	return nil
}

// resolveImages loads each images: package and returns its reference, so
// that a change to any of them changes this package's tag.
func (p *Package) resolveImages(ctx context.Context) ([]string, error) {
	chain := append(slices.Clone(p.chain), p.Dir)
	p.images = p.images[:0]
	var refs []string
	for i, a := range p.Spec.Images {
		dir := filepath.Clean(filepath.Join(p.Dir, a.Package))
		if slices.Contains(chain, dir) {
			return nil, fmt.Errorf("images[%d]: the packages name each other: %s", i, strings.Join(append(chain, dir), " -> "))
		}
		sub, err := Load(dir)
		if err != nil {
			return nil, fmt.Errorf("images[%d]: %w", i, err)
		}
		if sub.Spec.Kernel != nil {
			return nil, fmt.Errorf("images[%d]: %s is a kernel package, not a container image", i, a.Package)
		}
		sub.chain, sub.Arch, sub.TagCache = chain, p.Arch, p.TagCache
		ref, err := sub.refCtx(ctx)
		if err != nil {
			return nil, fmt.Errorf("images[%d]: %w", i, err)
		}
		p.images = append(p.images, sub)
		refs = append(refs, ref)
	}
	return refs, nil
}

// addImages builds (or finds) each images: package and adds its archive
// to tree; tmp holds the archives until the layer is written.
func (p *Package) addImages(ctx context.Context, tree *image.Tree, opt Options, tmp string, log io.Writer) error {
	// Force is about the package asked for, not the images it carries.
	sopt := opt
	sopt.Force, sopt.UpdateLock = false, false
	for i, a := range p.Spec.Images {
		sub := p.images[i]
		ref, err := buildLoaded(ctx, sub, sopt, log)
		if err != nil {
			return fmt.Errorf("images[%d] (%s): %w", i, a.Package, err)
		}
		img, err := opt.Cache.GetArch(ref, p.arch())
		if err != nil {
			return fmt.Errorf("images[%d] (%s): %w", i, a.Package, err)
		}
		tag, err := name.NewTag(a.Name, name.StrictValidation)
		if err != nil {
			return fmt.Errorf("images[%d] (%s): %w", i, a.Package, err)
		}
		fmt.Fprintf(log, "  image %s as %s\n", ref, a.Name)
		out := filepath.Join(tmp, "image-"+strconv.Itoa(i)+".tar")
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		err = tarball.Write(tag, img, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("images[%d] (%s): writing the archive: %w", i, a.Package, err)
		}
		if err := tree.AddFile(a.Path, 0o644, out); err != nil {
			return fmt.Errorf("images[%d] (%s): %w", i, a.Package, err)
		}
	}
	return nil
}
