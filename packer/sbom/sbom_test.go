package sbom

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spdx/tools-golang/spdxlib"
)

// checkRequired checks the fields SPDX 2.3 requires of a document, its
// packages, files and relationships, on the JSON itself.
func checkRequired(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	want := map[string]string{"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT"}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("got %s %v, want %s", k, d[k], v)
		}
	}
	for _, k := range []string{"name", "documentNamespace"} {
		if s, _ := d[k].(string); s == "" {
			t.Errorf("got no %s", k)
		}
	}
	ci, _ := d["creationInfo"].(map[string]any)
	if ci == nil || ci["created"] == "" || len(ci["creators"].([]any)) == 0 {
		t.Errorf("got creationInfo %v, want created and creators", ci)
	}
	ids := map[string]bool{"SPDXRef-DOCUMENT": true}
	pkgs, _ := d["packages"].([]any)
	for _, p := range pkgs {
		p := p.(map[string]any)
		for _, k := range []string{"name", "SPDXID", "downloadLocation"} {
			if s, _ := p[k].(string); s == "" {
				t.Errorf("package %v has no %s", p, k)
			}
		}
		if _, ok := p["filesAnalyzed"]; !ok {
			t.Errorf("package %v has no filesAnalyzed", p["name"])
		}
		id := p["SPDXID"].(string)
		if ids[id] {
			t.Errorf("SPDXID %s is listed twice", id)
		}
		ids[id] = true
	}
	files, _ := d["files"].([]any)
	for _, f := range files {
		f := f.(map[string]any)
		sha1 := false
		for _, c := range f["checksums"].([]any) {
			if c.(map[string]any)["algorithm"] == "SHA1" {
				sha1 = true
			}
		}
		if !sha1 || f["fileName"] == "" {
			t.Errorf("file %v: want a name and a SHA1 checksum", f)
		}
		ids[f["SPDXID"].(string)] = true
	}
	rels, _ := d["relationships"].([]any)
	for _, r := range rels {
		r := r.(map[string]any)
		for _, k := range []string{"spdxElementId", "relatedSpdxElement"} {
			if !ids[r[k].(string)] {
				t.Errorf("relationship %v names %s, which no element has", r, r[k])
			}
		}
	}
	// And the library's own check: unique identifiers, relationships
	// between existing elements, and what the document describes.
	doc, err := Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		t.Errorf("spdxlib.ValidateDocument: %v", err)
	}
	if ids, err := spdxlib.GetDescribedPackageIDs(doc); err != nil || len(ids) != 1 {
		t.Errorf("got described packages %v, %v; want the one root", ids, err)
	}
	return d
}

func purls(d map[string]any) []string {
	var out []string
	pkgs, _ := d["packages"].([]any)
	for _, p := range pkgs {
		refs, _ := p.(map[string]any)["externalRefs"].([]any)
		for _, r := range refs {
			out = append(out, r.(map[string]any)["referenceLocator"].(string))
		}
	}
	return out
}

func encode(t *testing.T, b *Builder, at time.Time) []byte {
	t.Helper()
	d, err := b.Document(at)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name      string
		add       func(b *Builder)
		wantPURLs []string
		wantSum   string
	}{
		{"debian package", func(b *Builder) { b.AddDeb("busybox-static", "1:1.35.0-4+b3", "amd64", "ab12") },
			[]string{"pkg:deb/debian/busybox-static@1:1.35.0-4+b3?arch=amd64"}, "ab12"},
		{"go module", func(b *Builder) {
			b.AddGoModule("golang.org/x/sys", "v0.30.0", "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
		}, []string{"pkg:golang/golang.org/x/sys@v0.30.0"}, strings.Repeat("0", 64)},
		{"main module without version", func(b *Builder) { b.AddGoModule("github.com/keel-os/keel", "(devel)", "") },
			[]string{"pkg:golang/github.com/keel-os/keel"}, ""},
		{"image without SBOM", func(b *Builder) { b.AddImage("docker.io/library/alpine:3.20", "sha256:beef") },
			[]string{"pkg:oci/alpine@sha256:beef?repository_url=docker.io%2Flibrary%2Falpine"}, "beef"},
		{"file", func(b *Builder) { b.AddFile("/etc/motd", []byte("hi\n")) }, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New("keel/test", "0123")
			tt.add(b)
			raw := encode(t, b, FixedTime)
			d := checkRequired(t, raw)
			if got := purls(d); strings.Join(got, " ") != strings.Join(tt.wantPURLs, " ") {
				t.Errorf("got purls %q, want %q", got, tt.wantPURLs)
			}
			if tt.wantSum != "" && !bytes.Contains(raw, []byte(`"checksumValue": "`+tt.wantSum+`"`)) {
				t.Errorf("got no checksum %s in\n%s", tt.wantSum, raw)
			}
			if again := encode(t, b, FixedTime); !bytes.Equal(again, raw) {
				t.Errorf("got different bytes for the same document")
			}
			if got := d["creationInfo"].(map[string]any)["created"]; got != "1970-01-01T00:00:00Z" {
				t.Errorf("got created %v, want the fixed time", got)
			}
		})
	}
}

// TestNamespaceFollowsContent: the namespace differs with the content
// and stays the same for the same content.
func TestNamespaceFollowsContent(t *testing.T) {
	ns := func(version string) string {
		b := New("keel/a", "1")
		b.AddDeb("tzdata", version, "all", "")
		d, err := b.Document(FixedTime)
		if err != nil {
			t.Fatal(err)
		}
		return d.DocumentNamespace
	}
	if a, b := ns("1"), ns("1"); a != b {
		t.Errorf("got namespaces %s and %s for the same content", a, b)
	}
	if a, b := ns("1"), ns("2"); a == b {
		t.Errorf("got namespace %s for different contents", a)
	}
}

func image(t *testing.T, name string, add func(b *Builder)) *Document {
	t.Helper()
	b := New(name, "1")
	add(b)
	raw := encode(t, b, FixedTime)
	d, err := Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestMerge(t *testing.T) {
	a := image(t, "keel/a", func(b *Builder) {
		b.AddDeb("libc6", "2.36-9", "amd64", "11")
		b.AddGoModule("golang.org/x/sys", "v0.30.0", "")
	})
	bb := image(t, "keel/b", func(b *Builder) {
		b.AddDeb("libc6", "2.36-9", "amd64", "11") // shared with a
		b.AddDeb("zlib1g", "1:1.2.13", "amd64", "22")
	})
	tests := []struct {
		name  string
		order []*Document
	}{
		{"a then b", []*Document{a, bb}},
		{"b then a", []*Document{bb, a}},
		{"a twice", []*Document{a, bb, a}},
	}
	var first []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New("system", "")
			for _, d := range tt.order {
				m.Include(d)
			}
			m.AddImage("docker.io/library/alpine:3.20", "sha256:beef")
			raw := encode(t, m, FixedTime)
			d := checkRequired(t, raw)
			got := purls(d)
			want := []string{
				"pkg:oci/alpine@sha256:beef?repository_url=docker.io%2Flibrary%2Falpine",
				"pkg:golang/golang.org/x/sys@v0.30.0",
				"pkg:deb/debian/libc6@2.36-9?arch=amd64",
				"pkg:deb/debian/zlib1g@1:1.2.13?arch=amd64",
			}
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("got purls %q, want %q (each once, sorted by name)", got, want)
			}
			// The system describes itself and contains each image.
			for _, img := range []string{"keel/a", "keel/b"} {
				if !bytes.Contains(raw, []byte(`"name": "`+img+`"`)) {
					t.Errorf("got no package for image %s", img)
				}
			}
			if first == nil {
				first = raw
			} else if !bytes.Equal(first, raw) {
				t.Errorf("got different bytes for a different order of the same images")
			}
		})
	}
}

func TestCurrentTime(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d := checkRequired(t, encode(t, New("x", ""), at))
	if got := d["creationInfo"].(map[string]any)["created"]; got != "2026-01-02T03:04:05Z" {
		t.Errorf("got created %v, want 2026-01-02T03:04:05Z", got)
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"not JSON", "{"},
		{"too large", `{"name":"` + strings.Repeat("a", MaxSize) + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse(strings.NewReader(tt.in)); err == nil {
				t.Errorf("got no error, want one")
			}
		})
	}
}

// scanned is a document of another tool: two of them use the same
// identifiers for different packages, as scanners do.
func scanned(t *testing.T, pkg string) *Document {
	t.Helper()
	raw := `{"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT",
  "name": "scan", "documentNamespace": "https://example.com/x",
  "creationInfo": {"created": "2025-01-02T03:04:05Z", "creators": ["Tool: other"]},
  "packages": [
    {"SPDXID": "SPDXRef-Root", "name": "root", "downloadLocation": "NOASSERTION"},
    {"SPDXID": "SPDXRef-P", "name": "` + pkg + `", "downloadLocation": "NOASSERTION", "licenseConcluded": "MIT AND LicenseRef-x"}],
  "relationships": [
    {"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": "SPDXRef-Root"},
    {"spdxElementId": "SPDXRef-Root", "relationshipType": "CONTAINS", "relatedSpdxElement": "SPDXRef-P"},
    {"spdxElementId": "SPDXRef-P", "relationshipType": "DEPENDS_ON", "relatedSpdxElement": "SPDXRef-Gone"}]}`
	d, err := Parse(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestIncludeAttested: scanners' documents that reuse identifiers are both
// kept whole under their scopes; the result is valid SPDX and the same
// bytes for the same inputs.
func TestIncludeAttested(t *testing.T) {
	build := func() []byte {
		b := New("registry.example/app:1", "sha256:aa")
		b.IncludeAttested(scanned(t, "musl"), "sha256:aa#0")
		b.IncludeAttested(scanned(t, "zlib"), "sha256:aa#1")
		return encode(t, b, FixedTime)
	}
	raw := build()
	if again := build(); !bytes.Equal(raw, again) {
		t.Errorf("the same documents gave different bytes")
	}
	d := checkRequired(t, raw)
	names := map[string]bool{}
	for _, p := range d["packages"].([]any) {
		pm := p.(map[string]any)
		names[pm["name"].(string)] = true
		if lc, _ := pm["licenseConcluded"].(string); strings.Contains(lc, "LicenseRef-") {
			t.Errorf("package %v keeps a license reference to a text not carried over: %q", pm["name"], lc)
		}
	}
	for _, n := range []string{"musl", "zlib", "registry.example/app:1"} {
		if !names[n] {
			t.Errorf("package %s missing; got %v", n, names)
		}
	}
	if strings.Contains(string(raw), "DEPENDS_ON") || strings.Contains(string(raw), "SPDXRef-P\"") {
		t.Errorf("a dangling relationship or an original identifier survived:\n%s", raw)
	}
	doc, err := Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		t.Errorf("merged document does not validate: %v", err)
	}
}
