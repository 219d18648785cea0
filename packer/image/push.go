package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/keel-os/keel/packer/sbom"
)

// Pusher uploads cached images to a registry.
type Pusher struct {
	Cache *Cache
	// Keychain finds credentials; nil means the Docker config file
	// (~/.docker/config.json, $DOCKER_CONFIG) and its credential helpers.
	Keychain authn.Keychain
	// Transport is the HTTP transport (tests); nil means the default.
	Transport http.RoundTripper
	// Insecure allows plain HTTP (and unverified TLS) to the registry.
	// Loopback registries (localhost, 127.0.0.1, ::1) get HTTP anyway.
	Insecure bool
	// Log, if set, gets one line per reference written.
	Log io.Writer
}

// Pushed names what Push wrote.
type Pushed struct {
	Image, Index string // references
	ImageDigest  v1.Hash
	IndexDigest  v1.Hash
	// SBOM is whether the index carries the image's SBOM attestation.
	SBOM bool
}

// Push uploads the cached image ref to registry reg (host[:port], optionally
// followed by a path) under ref's repository and tag, the way `linuxkit pkg
// push` publishes: the image as TAG-amd64, and as TAG an image index whose
// one linux/amd64 entry is that image, so that multi-platform clients and
// plain ones both find it.
func (p *Pusher) Push(ctx context.Context, ref, reg string) (*Pushed, error) {
	src, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("invalid image reference %q: %w", ref, err)
	}
	tag, ok := src.(name.Tag)
	if !ok {
		return nil, fmt.Errorf("pushing %s: a tag is needed to name the pushed image, not a digest", ref)
	}
	img, err := p.Cache.Get(ref)
	if err != nil {
		return nil, err
	}
	var opts []name.Option
	if p.Insecure {
		opts = append(opts, name.Insecure)
	}
	base := strings.TrimSuffix(reg, "/") + "/" + tag.RepositoryStr()
	archRef, err := name.NewTag(base+":"+tag.TagStr()+"-"+Architecture, opts...)
	if err != nil {
		return nil, fmt.Errorf("registry %q: %w (want host[:port][/path], e.g. localhost:5000)", reg, err)
	}
	indexRef, err := name.NewTag(base+":"+tag.TagStr(), opts...)
	if err != nil {
		return nil, fmt.Errorf("registry %q: %w (want host[:port][/path], e.g. localhost:5000)", reg, err)
	}

	kc := p.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	ropts := []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(kc)}
	if p.Transport != nil {
		ropts = append(ropts, remote.WithTransport(p.Transport))
	}

	if err := remote.Write(archRef, img, ropts...); err != nil {
		return nil, fmt.Errorf("pushing %s: %w", archRef, explain(err))
	}
	imgDigest, err := img.Digest()
	if err != nil {
		return nil, err
	}
	entries := []mutate.IndexAddendum{{
		Add:        img,
		Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: OS, Architecture: Architecture}},
	}}
	doc, hasSBOM, err := p.Cache.Referrer(imgDigest, sbom.MediaType)
	if err != nil {
		return nil, err
	}
	if hasSBOM {
		att, err := sbomAttestation(archRef.String(), imgDigest, doc)
		if err != nil {
			return nil, fmt.Errorf("pushing %s: its SBOM: %w", indexRef, err)
		}
		entries = append(entries, att)
	}
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, entries...), types.OCIImageIndex)
	if err := remote.WriteIndex(indexRef, idx, ropts...); err != nil {
		return nil, fmt.Errorf("pushing %s: %w", indexRef, explain(err))
	}
	idxDigest, err := idx.Digest()
	if err != nil {
		return nil, err
	}
	if p.Log != nil {
		with := ""
		if hasSBOM {
			with = " with its SBOM attestation"
		}
		fmt.Fprintf(p.Log, "pushed %s (%s) and %s (%s)%s\n", archRef, imgDigest, indexRef, idxDigest, with)
	}
	return &Pushed{Image: archRef.String(), Index: indexRef.String(), ImageDigest: imgDigest, IndexDigest: idxDigest, SBOM: hasSBOM}, nil
}

// sbomAttestation is the SPDX document doc of the image (named subject,
// of digest d) as BuildKit attaches SBOMs: an in-toto statement in the
// one layer of an attestation manifest, listed in the image index as
// platform unknown/unknown with the annotations that name it and its
// image. Docker, BuildKit's tools and keel's pull read it. Nothing in it
// depends on the time, so a push of the same package gives the same index.
func sbomAttestation(subject string, d v1.Hash, doc []byte) (mutate.IndexAddendum, error) {
	st, err := json.Marshal(struct {
		Type          string          `json:"_type"`
		PredicateType string          `json:"predicateType"`
		Subject       []intotoSubject `json:"subject"`
		Predicate     json.RawMessage `json:"predicate"`
	}{
		Type:          "https://in-toto.io/Statement/v0.1",
		PredicateType: spdxPredicate,
		Subject:       []intotoSubject{{Name: subject, Digest: map[string]string{d.Algorithm: d.Hex}}},
		Predicate:     json.RawMessage(doc),
	})
	if err != nil {
		return mutate.IndexAddendum{}, err
	}
	att, err := mutate.Append(empty.Image, mutate.Addendum{
		Layer:       static.NewLayer(st, "application/vnd.in-toto+json"),
		Annotations: map[string]string{predicateAnnotation: spdxPredicate},
	})
	if err != nil {
		return mutate.IndexAddendum{}, err
	}
	return mutate.IndexAddendum{
		Add: mutate.MediaType(att, types.OCIManifestSchema1),
		Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{refTypeAnnotation: refTypeAttestation, refDigestAnnotation: d.String()},
		},
	}, nil
}

type intotoSubject struct {
	Name   string            `json:"name"`
	Digest map[string]string `json:"digest"`
}
