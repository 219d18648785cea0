package pkgbuild

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/sbom"
)

// storedSBOM returns the SBOM the cache holds for ref's amd64 image.
func storedSBOM(t *testing.T, c *image.Cache, ref string) ([]byte, *sbom.Document) {
	t.Helper()
	raw, ok, err := c.Referrer(imageDigest(t, c, ref), sbom.MediaType)
	if err != nil || !ok {
		t.Fatalf("SBOM of %s: got %v, %v; want one", ref, ok, err)
	}
	doc, err := sbom.Parse(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return raw, doc
}

// TestPackageSBOM: a built package carries an SPDX document listing its
// Go modules (from the binary's build information) and its files with
// their checksums; the document is the same for the same inputs, and a
// package cached without one gets it on the next build.
func TestPackageSBOM(t *testing.T) {
	cache := openCache(t)
	ref, err := Build(context.Background(), "testdata/hello", Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	raw, doc := storedSBOM(t, cache, ref)
	if doc.SPDXVersion != "SPDX-2.3" || doc.DocumentName != "keeltest/hello" {
		t.Errorf("got version %s name %s, want SPDX-2.3 keeltest/hello", doc.SPDXVersion, doc.DocumentName)
	}
	names := map[string]string{}
	for _, p := range doc.Packages {
		names[p.PackageName] = p.PackageVersion
	}
	for _, want := range []string{"keeltest/hello", "stdlib", "github.com/keel-os/keel"} {
		if _, ok := names[want]; !ok {
			t.Errorf("got packages %v, want %s among them", names, want)
		}
	}
	if !strings.HasPrefix(names["stdlib"], "go1.") {
		t.Errorf("got stdlib version %q, want the Go version", names["stdlib"])
	}
	files := map[string]bool{}
	for _, f := range doc.Files {
		files[f.FileName] = len(f.Checksums) == 2
	}
	for _, want := range []string{"/usr/bin/hello", "/etc/motd", "/etc/greeting"} {
		if !files[want] {
			t.Errorf("got files %v, want %s with SHA1 and SHA256", files, want)
		}
	}
	if doc.CreationInfo.Created != "1970-01-01T00:00:00Z" {
		t.Errorf("got created %s, want the fixed time", doc.CreationInfo.Created)
	}

	// The same package built into another cache: the same document.
	other := openCache(t)
	if _, err := Build(context.Background(), "testdata/hello", Options{Cache: other, Force: true}); err != nil {
		t.Fatal(err)
	}
	if again, _ := storedSBOM(t, other, ref); !bytes.Equal(again, raw) {
		t.Errorf("got a different SBOM from the same inputs")
	}

	// A cache entry made before SBOMs existed gets its SBOM.
	old := openCache(t)
	img, err := cache.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Put(ref, img); err != nil {
		t.Fatal(err)
	}
	var progress bytes.Buffer
	if _, err := Build(context.Background(), "testdata/hello", Options{Cache: old, Stdout: &progress}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(progress.String(), "has no SBOM yet") {
		t.Errorf("got progress %q, want it to say the SBOM was missing", progress.String())
	}
	if again, _ := storedSBOM(t, old, ref); !bytes.Equal(again, raw) {
		t.Errorf("got a different SBOM for the cached image")
	}
	if imageDigest(t, old, ref) != imageDigest(t, cache, ref) {
		t.Errorf("adding the SBOM changed the image")
	}
}
