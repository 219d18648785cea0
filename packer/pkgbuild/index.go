package pkgbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/keel-os/keel/packer/image"
)

// buildAll builds the package for every architecture and stores an image
// index of the results. Its tag hashes the per-architecture references, so
// it changes exactly when one of them does, and never equals an
// amd64-only tag.
func buildAll(ctx context.Context, dir string, opt Options, progress io.Writer) (string, error) {
	p, err := Load(dir)
	if err != nil {
		return "", err
	}
	refs := map[string]string{}
	var adds []mutate.IndexAddendum
	for _, arch := range p.arches() {
		o := opt
		o.Arch = arch
		ref, err := Build(ctx, dir, o)
		if err != nil {
			return "", err
		}
		img, err := opt.Cache.GetArch(ref, arch)
		if err != nil {
			return "", err
		}
		refs[arch] = ref
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			MediaType: types.OCIManifestSchema1,
			Platform:  &v1.Platform{OS: image.OS, Architecture: arch},
		}})
	}
	ref := p.Spec.Org + "/" + p.Spec.Image + ":" + indexTag(refs)
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	if err := opt.Cache.PutIndex(ref, idx); err != nil {
		return "", err
	}
	fmt.Fprintf(progress, "%s: image index of %d architectures\n", ref, len(adds))
	return ref, nil
}

// indexTag is the tag of the image index of the per-architecture
// references refs.
func indexTag(refs map[string]string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\nindex\n", formatVersion)
	for _, arch := range image.Architectures {
		if ref, ok := refs[arch]; ok {
			fmt.Fprintf(h, "%s %s\n", arch, ref)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:TagLength]
}

// RefFor returns the reference Build gives the package in dir for arch
// (an architecture or ArchAll) without building anything.
func RefFor(ctx context.Context, dir, arch string) (string, error) {
	p, err := Load(dir)
	if err != nil {
		return "", err
	}
	arches := []string{arch}
	if arch == ArchAll {
		arches = p.arches()
	}
	refs := map[string]string{}
	for _, a := range arches {
		var err error
		if p, err = Load(dir); err != nil {
			return "", err
		}
		p.Arch = a
		if refs[a], err = p.refCtx(ctx); err != nil {
			return "", err
		}
	}
	if arch != ArchAll {
		return refs[arch], nil
	}
	return p.Spec.Org + "/" + p.Spec.Image + ":" + indexTag(refs), nil
}
