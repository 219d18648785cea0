// Package image holds Keel's view of OCI images on the host: canonical
// references, the local OCI-layout cache, deterministic single-layer image
// construction and layer flattening.
package image

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Normalize returns the canonical form of an image reference, so that
// "linuxkit/init:abc", "docker.io/linuxkit/init:abc" and
// "index.docker.io/linuxkit/init:abc" are one cache key. A reference without
// tag or digest gets ":latest".
func Normalize(ref string) (string, error) {
	if strings.TrimSpace(ref) == "" {
		return "", fmt.Errorf("empty image reference: want [registry/]repository[:tag][@sha256:digest]")
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("invalid image reference %q: %w (want [registry/]repository[:tag][@sha256:digest], e.g. linuxkit/init:v1.0)", ref, err)
	}
	return r.Name(), nil
}
