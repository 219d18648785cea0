package image

import (
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
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
