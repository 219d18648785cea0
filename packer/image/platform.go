package image

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// Architectures are the CPU architectures Keel builds systems for, in Go's
// GOARCH spelling, which OCI platforms use too.
var Architectures = []string{"amd64", "arm64"}

// CheckArch says whether arch is one Keel builds for.
func CheckArch(arch string) error {
	if slices.Contains(Architectures, arch) {
		return nil
	}
	return fmt.Errorf("architecture %q is not supported: use one of %s", arch, strings.Join(Architectures, ", "))
}

// archOr returns arch, or the default Architecture when it is empty.
func archOr(arch string) string {
	if arch == "" {
		return Architecture
	}
	return arch
}

// descArch is the architecture an index entry stores. Entries written
// before Keel knew more than one architecture may lack a platform: they
// are amd64, the only one it built then.
func descArch(d v1.Descriptor) string {
	if d.Platform == nil || d.Platform.Architecture == "" {
		return Architecture
	}
	return d.Platform.Architecture
}

// PutIndex stores ii, a multi-platform image index, under ref, replacing
// every previous entry of that name. Each of its images must be for a
// platform Keel builds for.
func (c *Cache) PutIndex(ref string, ii v1.ImageIndex) error {
	norm, err := Normalize(ref)
	if err != nil {
		return err
	}
	m, err := ii.IndexManifest()
	if err != nil {
		return fmt.Errorf("storing %s: %w", norm, err)
	}
	return c.gcLocked(syscall.LOCK_SH, func() error {
		for _, d := range m.Manifests {
			if d.Platform == nil || d.Platform.OS != OS || CheckArch(d.Platform.Architecture) != nil {
				return fmt.Errorf("storing %s: index entry %s is not for a platform Keel builds for", norm, d.Digest)
			}
			img, err := ii.Image(d.Digest)
			if err != nil {
				return fmt.Errorf("storing %s: %w", norm, err)
			}
			if _, err := c.writeImageBlobs(img, nil); err != nil {
				return fmt.Errorf("storing %s in the cache %s: %w", norm, c.dir, err)
			}
		}
		raw, err := ii.RawManifest()
		if err != nil {
			return err
		}
		dig, err := ii.Digest()
		if err != nil {
			return err
		}
		mt, err := ii.MediaType()
		if err != nil {
			return err
		}
		if err := c.writeBlob(dig, io.NopCloser(bytes.NewReader(raw))); err != nil {
			return err
		}
		desc := &v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: dig,
			Annotations: map[string]string{RefNameAnnotation: norm}}
		return c.putIndex(norm, desc)
	})
}

// withPlatform makes sure img's config names linux and an architecture Keel
// builds for; one naming neither gets linux/amd64.
func withPlatform(img v1.Image) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	if (cf.OS != "" && cf.OS != OS) || (cf.Architecture != "" && CheckArch(cf.Architecture) != nil) {
		return nil, fmt.Errorf("image is for %s/%s; Keel only runs %s images on %s", cf.OS, cf.Architecture, OS, strings.Join(Architectures, ", "))
	}
	if cf.OS == OS && cf.Architecture != "" {
		return img, nil
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = OS, archOr(cf.Architecture)
	return mutate.ConfigFile(img, cf)
}

// platformImage picks the linux/arch image from an index.
func platformImage(ii v1.ImageIndex, ref, arch string) (v1.Image, error) {
	m, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range m.Manifests {
		if d.Platform != nil && d.Platform.OS == OS && d.Platform.Architecture == arch && d.MediaType.IsImage() {
			return ii.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("image %s has no %s/%s variant", ref, OS, arch)
}
