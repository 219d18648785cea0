package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// SubjectAnnotation, on a cache index entry of a referrer (an OCI 1.1
// artifact whose manifest has a subject), names the subject's digest, so
// finding an image's referrers reads index.json only.
const SubjectAnnotation = "dev.keel.referrer.subject"

// emptyConfig is the OCI 1.1 empty descriptor an artifact's config points
// to: the two bytes "{}".
var emptyConfig = []byte("{}")

const emptyMediaType types.MediaType = "application/vnd.oci.empty.v1+json"

// MaxReferrerSize bounds the one blob of a referrer that Referrer reads.
const MaxReferrerSize = 64 << 20

// PutReferrer stores blob as an OCI 1.1 artifact of artifactType whose
// subject is the manifest subject (an image in the cache), replacing any
// referrer of that type the subject had. The artifact is a plain manifest
// in the layout (config: the empty descriptor, one layer: blob), listed in
// index.json without a name, so List and Get never see it; Clean drops it
// once its subject is gone.
func (c *Cache) PutReferrer(subject v1.Descriptor, artifactType string, blob []byte) error {
	sum := func(b []byte) v1.Hash {
		s := sha256.Sum256(b)
		return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
	}
	subj := v1.Descriptor{MediaType: subject.MediaType, Size: subject.Size, Digest: subject.Digest}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        v1.Descriptor{MediaType: emptyMediaType, Size: int64(len(emptyConfig)), Digest: sum(emptyConfig), Data: emptyConfig},
		Layers:        []v1.Descriptor{{MediaType: types.MediaType(artifactType), Size: int64(len(blob)), Digest: sum(blob)}},
		Subject:       &subj,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	desc := v1.Descriptor{
		MediaType:    types.OCIManifestSchema1,
		Size:         int64(len(raw)),
		Digest:       sum(raw),
		ArtifactType: artifactType,
		Annotations:  map[string]string{SubjectAnnotation: subject.Digest.String()},
	}
	return c.gcLocked(syscall.LOCK_SH, func() error {
		for _, b := range [][]byte{emptyConfig, blob, raw} {
			if err := c.writeBlob(sum(b), bytes.NewReader(b)); err != nil {
				return fmt.Errorf("storing the %s of %s in the cache %s: %w", artifactType, subject.Digest, c.dir, err)
			}
		}
		return c.locked(func() error {
			idx, err := c.readIndex()
			if err != nil {
				return err
			}
			kept := idx.Manifests[:0]
			for _, d := range idx.Manifests {
				if d.Annotations[SubjectAnnotation] != subject.Digest.String() || d.ArtifactType != artifactType {
					kept = append(kept, d)
				}
			}
			idx.Manifests = append(kept, desc)
			return c.writeIndex(idx)
		})
	})
}

// Referrer returns the blob of subject's referrer of artifactType, and
// false when it has none.
func (c *Cache) Referrer(subject v1.Hash, artifactType string) ([]byte, bool, error) {
	idx, err := c.readIndex()
	if err != nil {
		return nil, false, err
	}
	for i := len(idx.Manifests) - 1; i >= 0; i-- {
		d := idx.Manifests[i]
		if d.Annotations[SubjectAnnotation] != subject.String() || d.ArtifactType != artifactType {
			continue
		}
		raw, err := c.readBlob(d.Digest, 1<<20)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		var m v1.Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, false, fmt.Errorf("referrer %s in the cache %s: %w", d.Digest, c.dir, err)
		}
		if len(m.Layers) != 1 || m.Subject == nil || m.Subject.Digest != subject {
			return nil, false, fmt.Errorf("referrer %s in the cache %s is not a one-blob artifact of %s", d.Digest, c.dir, subject)
		}
		if m.Layers[0].Size > MaxReferrerSize {
			return nil, false, fmt.Errorf("the %s of %s is %d bytes, more than the %d allowed", artifactType, subject, m.Layers[0].Size, MaxReferrerSize)
		}
		blob, err := c.readBlob(m.Layers[0].Digest, MaxReferrerSize)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		return blob, err == nil, err
	}
	return nil, false, nil
}

// readBlob reads a blob of at most limit bytes and checks its digest.
func (c *Cache) readBlob(h v1.Hash, limit int64) ([]byte, error) {
	f, err := os.Open(c.blobPath(h))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", h, limit)
	}
	s := sha256.Sum256(raw)
	if got := hex.EncodeToString(s[:]); got != h.Hex {
		return nil, fmt.Errorf("blob %s in the cache %s is corrupt (its content has digest sha256:%s): remove the cache entry and rebuild", h, c.dir, got)
	}
	return raw, nil
}
