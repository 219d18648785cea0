package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/keel-os/keel/packer/sbom"
)

// spdxPredicateDoc is an SPDX document as a scanner (syft, through
// BuildKit) writes it: identifiers of its own, a LicenseRef of its own.
func spdxPredicateDoc(pkgName, version string) string {
	return fmt.Sprintf(`{
  "spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
  "name": "scan", "documentNamespace": "https://example.com/scan-1",
  "creationInfo": {"created": "2025-01-02T03:04:05Z", "creators": ["Tool: syft"]},
  "packages": [
    {"SPDXID": "SPDXRef-DocumentRoot-Image", "name": "app", "downloadLocation": "NOASSERTION"},
    {"SPDXID": "SPDXRef-Package-1", "name": %q, "versionInfo": %q, "downloadLocation": "NOASSERTION",
     "licenseConcluded": "LicenseRef-custom", "licenseDeclared": "MIT",
     "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:apk/alpine/%s@%s"}]}
  ],
  "hasExtractedLicensingInfos": [{"licenseId": "LicenseRef-custom", "extractedText": "custom"}],
  "relationships": [
    {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-DocumentRoot-Image"},
    {"spdxElementId": "SPDXRef-DocumentRoot-Image", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-Package-1"},
    {"spdxElementId": "SPDXRef-Package-1", "relationshipType": "DEPENDS_ON", "relatedSpdxElement": "SPDXRef-Elsewhere"}
  ]
}`, pkgName, version, pkgName, version)
}

func statementJSON(t *testing.T, predicateType string, subject v1.Hash, predicate string) []byte {
	t.Helper()
	st := map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": predicateType,
		"subject":       []any{map[string]any{"name": "pkg:docker/app", "digest": map[string]string{subject.Algorithm: subject.Hex}}},
		"predicate":     json.RawMessage(predicate),
	}
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// attestedIndex is BuildKit's layout: the linux/amd64 image and an
// attestation manifest about it (platform unknown/unknown) whose layers
// are the statements.
func attestedIndex(t *testing.T, img v1.Image, statements ...[]byte) v1.ImageIndex {
	t.Helper()
	att := empty.Image
	for _, s := range statements {
		var err error
		att, err = mutate.Append(att, mutate.Addendum{
			Layer:       static.NewLayer(s, "application/vnd.in-toto+json"),
			Annotations: map[string]string{predicateAnnotation: spdxPredicate},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	att = mutate.MediaType(att, types.OCIManifestSchema1)
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: att, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{refTypeAnnotation: refTypeAttestation, refDigestAnnotation: digest(t, img).String()},
		}},
	)
}

func pushIndex(t *testing.T, reg *testRegistry, ref string, idx v1.ImageIndex) name.Reference {
	t.Helper()
	n, err := name.ParseReference(reg.host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(n, idx); err != nil {
		t.Fatal(err)
	}
	return n
}

// pulledSBOM pulls ref into a new cache and returns the SBOM stored for
// the pulled image, if any.
func pulledSBOM(t *testing.T, ref string) ([]byte, bool, error) {
	t.Helper()
	p := newPuller(t)
	if err := p.Pull(context.Background(), ref); err != nil {
		return nil, false, err
	}
	img, err := p.Cache.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	doc, ok, err := p.Cache.Referrer(digest(t, img), sbom.MediaType)
	if err != nil {
		t.Fatal(err)
	}
	return doc, ok, nil
}

func TestPullReadsSBOMAttestation(t *testing.T) {
	reg := newRegistry(t)
	img := randomImage(t)
	d := digest(t, img)
	n := pushIndex(t, reg, "keel/attested:1", attestedIndex(t, img,
		statementJSON(t, spdxPredicate, d, spdxPredicateDoc("musl", "1.2.5-r0")),
		statementJSON(t, spdxPredicate, d, spdxPredicateDoc("busybox", "1.36.1-r29"))))

	raw, ok, err := pulledSBOM(t, n.String())
	if err != nil || !ok {
		t.Fatalf("pulled SBOM: ok %v, err %v; want the attestation stored", ok, err)
	}
	doc, err := sbom.Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]string{}
	for _, p := range doc.Packages {
		byName[p.PackageName] = p.PackageVersion
		if strings.HasPrefix(string(p.PackageSPDXIdentifier), "Package-1") || strings.Contains(p.PackageLicenseConcluded, "LicenseRef-") {
			t.Errorf("package %s kept the scanner's identifier %s or license %q", p.PackageName, p.PackageSPDXIdentifier, p.PackageLicenseConcluded)
		}
	}
	for name, want := range map[string]string{"musl": "1.2.5-r0", "busybox": "1.36.1-r29", n.Name(): d.String()} {
		if got, ok := byName[name]; !ok || got != want {
			t.Errorf("package %s: version %q (listed %v), want %q; packages %v", name, got, ok, want, byName)
		}
	}
	// The dangling DEPENDS_ON is dropped; the image root contains the
	// scanner's root, which contains the packages.
	for _, r := range doc.Relationships {
		if r.Relationship == "DEPENDS_ON" {
			t.Errorf("relationship to an element the document does not hold kept: %v", r)
		}
	}
	if !strings.Contains(string(raw), `"created": "1970-01-01T00:00:00Z"`) {
		t.Errorf("document not dated with the fixed time:\n%s", raw)
	}
	// Another cache, the same bytes.
	again, _, err := pulledSBOM(t, n.String())
	if err != nil || !bytes.Equal(again, raw) {
		t.Errorf("a second pull stored another document (err %v)", err)
	}
}

func TestPullWithoutAttestation(t *testing.T) {
	reg := newRegistry(t)
	img := randomImage(t)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	for _, ref := range []string{
		pushIndex(t, reg, "keel/plain-index:1", idx).String(),
		reg.push(t, "keel/plain:1", img).String(),
	} {
		if _, ok, err := pulledSBOM(t, ref); ok || err != nil {
			t.Errorf("%s: SBOM stored %v, err %v; want none and no error", ref, ok, err)
		}
	}
}

func TestPullRefusesBadAttestation(t *testing.T) {
	reg := newRegistry(t)
	img := randomImage(t)
	d := digest(t, img)
	other := digest(t, randomImage(t))
	many := make([][]byte, maxSBOMStatements+1)
	for i := range many {
		many[i] = statementJSON(t, spdxPredicate, d, spdxPredicateDoc("p", fmt.Sprint(i)))
	}
	tests := []struct {
		name       string
		statements [][]byte
		want       string
	}{
		{"another subject", [][]byte{statementJSON(t, spdxPredicate, other, spdxPredicateDoc("p", "1"))}, "is not about image"},
		{"predicate type differs from the annotation", [][]byte{statementJSON(t, "https://slsa.dev/provenance/v0.2", d, `{}`)}, "predicate type"},
		{"not JSON", [][]byte{[]byte("{not json")}, "not an in-toto statement"},
		{"not SPDX", [][]byte{statementJSON(t, spdxPredicate, d, `{"spdxVersion": 7}`)}, "SPDX"},
		{"too many statements", many, "more than"},
	}
	for i, tt := range tests {
		n := pushIndex(t, reg, fmt.Sprintf("keel/bad%d:1", i), attestedIndex(t, img, tt.statements...))
		_, _, err := pulledSBOM(t, n.String())
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.name, err, tt.want)
		}
	}
}

// TestPushSBOMAttestation: a package pushed with its SBOM carries it as
// BuildKit's attestation, which a pull into another cache reads back; the
// same push gives the same index.
func TestPushSBOMAttestation(t *testing.T) {
	reg := newRegistry(t)
	src := newPuller(t).Cache
	img := randomImage(t)
	if err := src.Put("keel/app:0123abcd", img); err != nil {
		t.Fatal(err)
	}
	stored, err := src.Get("keel/app:0123abcd")
	if err != nil {
		t.Fatal(err)
	}
	d := digest(t, stored)
	raw, _ := stored.RawManifest()
	mt, _ := stored.MediaType()
	b := sbom.New("keel/app", "0123abcd")
	b.AddDeb("libkeeltest1", "4.2-1", "amd64", strings.Repeat("ab", 32))
	doc, err := b.Document(sbom.FixedTime)
	if err != nil {
		t.Fatal(err)
	}
	body, err := sbom.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.PutReferrer(v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(raw))}, sbom.MediaType, body); err != nil {
		t.Fatal(err)
	}
	p := &Pusher{Cache: src, Keychain: newPuller(t).Keychain}
	first, err := p.Push(context.Background(), "keel/app:0123abcd", reg.host)
	if err != nil {
		t.Fatal(err)
	}
	if !first.SBOM {
		t.Errorf("Push says no SBOM was attached, want it attached")
	}
	again, err := p.Push(context.Background(), "keel/app:0123abcd", reg.host)
	if err != nil {
		t.Fatal(err)
	}
	if again.IndexDigest != first.IndexDigest {
		t.Errorf("two pushes of one package: index %s then %s, want the same", first.IndexDigest, again.IndexDigest)
	}
	got, ok, err := pulledSBOM(t, first.Index)
	if err != nil || !ok {
		t.Fatalf("pulling %s: SBOM stored %v, err %v; want it read back", first.Index, ok, err)
	}
	pulled, err := sbom.Parse(bytes.NewReader(got))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, pk := range pulled.Packages {
		found = found || (pk.PackageName == "libkeeltest1" && pk.PackageVersion == "4.2-1")
	}
	if !found {
		t.Errorf("the pulled SBOM lacks the pushed package's Debian package:\n%s", got)
	}
}
