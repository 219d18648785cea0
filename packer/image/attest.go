package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/keel-os/keel/packer/sbom"
)

// BuildKit's attestations: an entry of the image index, beside the
// platform images, whose annotations name it an attestation manifest and
// the image it is about; its layers are in-toto statements, each with the
// type of its predicate.
const (
	refTypeAnnotation    = "vnd.docker.reference.type"
	refTypeAttestation   = "attestation-manifest"
	refDigestAnnotation  = "vnd.docker.reference.digest"
	predicateAnnotation  = "in-toto.io/predicate-type"
	spdxPredicate        = "https://spdx.dev/Document"
	maxAttestationLayers = 64
	maxSBOMStatements    = 16
)

// statement is an in-toto statement, as far as Keel reads it.
type statement struct {
	PredicateType string `json:"predicateType"`
	Subject       []struct {
		Digest map[string]string `json:"digest"`
	} `json:"subject"`
	Predicate json.RawMessage `json:"predicate"`
}

// attestedSBOM reads the SPDX SBOM attestations a registry serves for the
// image of digest img in the index idx (BuildKit's layout) and returns
// them as one document of Keel's, rooted at the image; nil when there are
// none. Every statement must name img as its subject; sizes and counts
// are bounded, since the registry's answers are not trusted.
func attestedSBOM(idx v1.ImageIndex, ref string, img v1.Hash) ([]byte, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var att *v1.Descriptor
	for i, d := range im.Manifests {
		if d.Annotations[refTypeAnnotation] == refTypeAttestation && d.Annotations[refDigestAnnotation] == img.String() {
			att = &im.Manifests[i]
			break
		}
	}
	if att == nil {
		return nil, nil
	}
	ai, err := idx.Image(att.Digest)
	if err != nil {
		return nil, fmt.Errorf("attestation manifest %s: %w", att.Digest, err)
	}
	m, err := ai.Manifest()
	if err != nil {
		return nil, fmt.Errorf("attestation manifest %s: %w", att.Digest, err)
	}
	if len(m.Layers) > maxAttestationLayers {
		return nil, fmt.Errorf("attestation manifest %s has %d statements, more than the %d allowed", att.Digest, len(m.Layers), maxAttestationLayers)
	}
	var docs []*sbom.Document
	total := int64(0)
	for _, l := range m.Layers {
		if l.Annotations[predicateAnnotation] != spdxPredicate {
			continue
		}
		if len(docs) == maxSBOMStatements {
			return nil, fmt.Errorf("attestation manifest %s has more than %d SBOM statements", att.Digest, maxSBOMStatements)
		}
		total += l.Size
		if l.Size < 0 || total > sbom.MaxSize {
			return nil, fmt.Errorf("the SBOM statements of attestation manifest %s are larger than %d MiB", att.Digest, sbom.MaxSize>>20)
		}
		raw, err := readBlob(ai, l)
		if err != nil {
			return nil, fmt.Errorf("SBOM statement %s: %w", l.Digest, err)
		}
		var st statement
		if err := json.Unmarshal(raw, &st); err != nil {
			return nil, fmt.Errorf("SBOM statement %s: not an in-toto statement: %w", l.Digest, err)
		}
		if st.PredicateType != spdxPredicate {
			return nil, fmt.Errorf("SBOM statement %s: predicate type %q, its annotation says %q", l.Digest, st.PredicateType, spdxPredicate)
		}
		if !namesSubject(st, img) {
			return nil, fmt.Errorf("SBOM statement %s is not about image %s (its subjects are other digests)", l.Digest, img)
		}
		doc, err := sbom.Parse(bytes.NewReader(st.Predicate))
		if err != nil {
			return nil, fmt.Errorf("SBOM statement %s: %w", l.Digest, err)
		}
		docs = append(docs, doc)
	}
	if len(docs) == 0 {
		return nil, nil
	}
	b := sbom.New(ref, img.String())
	// Each statement's identifiers are its own: scoped by its place.
	for i, d := range docs {
		b.IncludeAttested(d, fmt.Sprintf("%s#%d", img, i))
	}
	doc, err := b.Document(sbom.FixedTime)
	if err != nil {
		return nil, err
	}
	return sbom.Marshal(doc)
}

func namesSubject(st statement, img v1.Hash) bool {
	for _, s := range st.Subject {
		if s.Digest[img.Algorithm] == img.Hex {
			return true
		}
	}
	return false
}

// readBlob reads the layer blob l of img, at most its declared size, and
// checks its digest.
func readBlob(img v1.Image, l v1.Descriptor) ([]byte, error) {
	if l.Digest.Algorithm != "sha256" {
		return nil, fmt.Errorf("digest algorithm %q is not sha256", l.Digest.Algorithm)
	}
	layer, err := img.LayerByDigest(l.Digest)
	if err != nil {
		return nil, err
	}
	rc, err := layer.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, l.Size+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) != l.Size {
		return nil, fmt.Errorf("%d bytes, the manifest says %d", len(raw), l.Size)
	}
	sum := sha256.Sum256(raw)
	if hex.EncodeToString(sum[:]) != l.Digest.Hex {
		return nil, fmt.Errorf("content does not match its digest")
	}
	return raw, nil
}

// pullSBOM stores the SBOM attestation of the image r resolved to (its
// manifest digest in the registry: orig) as the SBOM referrer of the image
// stored in the cache (stored), when r names an index that has one.
func (p *Puller) pullSBOM(ctx context.Context, r name.Reference, orig v1.Hash, stored v1.Image) error {
	desc, err := remote.Get(r, p.options(ctx)...)
	if err != nil {
		return err
	}
	if !desc.MediaType.IsIndex() {
		return nil
	}
	idx, err := desc.ImageIndex()
	if err != nil {
		return err
	}
	doc, err := attestedSBOM(idx, r.Name(), orig)
	if err != nil || doc == nil {
		return err
	}
	d, err := stored.Digest()
	if err != nil {
		return err
	}
	mt, err := stored.MediaType()
	if err != nil {
		return err
	}
	raw, err := stored.RawManifest()
	if err != nil {
		return err
	}
	return p.Cache.PutReferrer(v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw))}, sbom.MediaType, doc)
}
