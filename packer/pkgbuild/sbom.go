package pkgbuild

import (
	"bytes"
	"debug/buildinfo"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/sbom"
)

// newSBOM starts the SPDX document of the package image: its name is the
// image's reference, so two tags never share a namespace.
func (p *Package) newSBOM() *sbom.Builder {
	return sbom.New(p.Spec.Org+"/"+p.Spec.Image, p.tag)
}

// addDebs lists the Debian packages the image was made of, as pinned.
func addDebs(b *sbom.Builder, debs []debInfo) {
	for _, d := range debs {
		b.AddDeb(d.Package, d.Version, d.Arch, d.SHA256)
	}
}

// addGoModules lists the Go toolchain and every module linked into the
// binary at bin, from the build information the linker wrote into it.
func addGoModules(b *sbom.Builder, bin string) error {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return fmt.Errorf("reading the Go build information of %s: %w", bin, err)
	}
	b.AddGoModule("stdlib", bi.GoVersion, "")
	b.AddGoModule(bi.Main.Path, bi.Main.Version, bi.Main.Sum)
	for _, m := range bi.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		b.AddGoModule(m.Path, m.Version, m.Sum)
	}
	return nil
}

// addFiles lists the regular files the package's files: and go: entries
// put into the tree, with their final content.
func (p *Package) addFiles(b *sbom.Builder, tree *image.Tree) {
	seen := map[string]bool{}
	var paths []string
	for _, g := range p.Spec.Go {
		paths = append(paths, g.Output)
	}
	for _, f := range p.Spec.Files {
		if f.Source != "" || f.Contents != nil || f.Concat != "" {
			paths = append(paths, f.Path)
		}
	}
	for _, path := range paths {
		if seen[path] {
			continue
		}
		seen[path] = true
		// A later remove: entry may have dropped it: then it is not there.
		if data, err := tree.ReadFile(path); err == nil {
			b.AddFile(path, data)
		}
	}
}

// includeBase adds the base image's document to b, or the base image
// itself when it has none (a pulled image).
func includeBase(b *sbom.Builder, c *image.Cache, ref string, base v1.Image) error {
	d, err := base.Digest()
	if err != nil {
		return err
	}
	raw, ok, err := c.Referrer(d, sbom.MediaType)
	if err != nil {
		return err
	}
	if !ok {
		b.AddImage(ref, d.String())
		return nil
	}
	doc, err := sbom.Parse(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("the SBOM of %s: %w", ref, err)
	}
	b.Include(doc)
	return nil
}

// attachSBOM stores doc as the SBOM referrer of the image stored under
// ref for arch.
func attachSBOM(c *image.Cache, ref, arch string, doc []byte) error {
	img, err := c.GetArch(ref, arch)
	if err != nil {
		return err
	}
	desc, err := manifestDescriptor(img)
	if err != nil {
		return err
	}
	return c.PutReferrer(desc, sbom.MediaType, doc)
}

// hasSBOM says whether the image stored under ref for arch has an SBOM.
func hasSBOM(c *image.Cache, ref, arch string) (bool, error) {
	img, err := c.GetArch(ref, arch)
	if err != nil {
		return false, err
	}
	d, err := img.Digest()
	if err != nil {
		return false, err
	}
	_, ok, err := c.Referrer(d, sbom.MediaType)
	return ok, err
}

func manifestDescriptor(img v1.Image) (v1.Descriptor, error) {
	raw, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	d, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: d}, nil
}

// encodeSBOM is the document's reproducible bytes.
func encodeSBOM(b *sbom.Builder) ([]byte, error) {
	doc, err := b.Document(sbom.FixedTime)
	if err != nil {
		return nil, err
	}
	return sbom.Marshal(doc)
}
