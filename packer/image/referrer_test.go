package image

import (
	"os"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const testArtifact = "application/spdx+json"

func putWithReferrer(t *testing.T, c *Cache, ref string, blob string) v1.Hash {
	t.Helper()
	img := mustPlatform(t, randomImage(t))
	if err := c.Put(ref, img); err != nil {
		t.Fatal(err)
	}
	raw, err := img.RawManifest()
	if err != nil {
		t.Fatal(err)
	}
	mt, _ := img.MediaType()
	d := digest(t, img)
	if err := c.PutReferrer(v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: d}, testArtifact, []byte(blob)); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestReferrer: an image's referrer is found by its digest and type,
// replaced by a newer one, invisible to List, and dropped by Clean once
// its image is removed.
func TestReferrer(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := putWithReferrer(t, c, "keel/a:1", "first")
	b := putWithReferrer(t, c, "keel/b:1", "of b")
	img, _ := c.Get("keel/a:1")
	raw, _ := img.RawManifest()
	mt, _ := img.MediaType()
	if err := c.PutReferrer(v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: a}, testArtifact, []byte("second")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		subject      v1.Hash
		artifactType string
		want         string
		wantOK       bool
	}{
		{a, testArtifact, "second", true},
		{b, testArtifact, "of b", true},
		{a, "application/other", "", false},
		{v1.Hash{Algorithm: "sha256", Hex: "00"}, testArtifact, "", false},
	}
	for _, tt := range tests {
		got, ok, err := c.Referrer(tt.subject, tt.artifactType)
		if err != nil || ok != tt.wantOK || string(got) != tt.want {
			t.Errorf("Referrer(%s, %s) = %q, %v, %v; want %q, %v", tt.subject, tt.artifactType, got, ok, err, tt.want, tt.wantOK)
		}
	}
	entries, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("got %d listed entries, want the 2 images", len(entries))
	}
	if _, err := c.Remove("keel/a:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Clean(); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := c.Referrer(a, testArtifact); ok {
		t.Errorf("got a referrer of a removed image after Clean, want none")
	}
	if got, ok, err := c.Referrer(b, testArtifact); !ok || err != nil || string(got) != "of b" {
		t.Errorf("after Clean got %q, %v, %v for a kept image, want its referrer", got, ok, err)
	}
}

// TestReferrerCorruptBlob: a referrer blob whose content does not match
// its digest is an error, not a document.
func TestReferrerCorruptBlob(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := putWithReferrer(t, c, "keel/a:1", "content")
	h := v1.Hash{Algorithm: "sha256", Hex: "ed7002b439e9ac845f22357d822bac1444730fbdb6016d3ec9432297b9ec9f73"} // sha256("content")
	if err := os.WriteFile(c.blobPath(h), []byte("CONTENT"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Referrer(a, testArtifact); err == nil {
		t.Errorf("got no error for a corrupt blob, want one")
	}
}
