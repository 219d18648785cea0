package pkgbuild

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImagesArchive builds a package that carries another package's image
// and reads the archive back: it names the image as asked and holds the
// same config and layers as the image in the cache. A change to the
// carried package changes the carrier's tag.
func TestImagesArchive(t *testing.T) {
	root := tempModule(t, "package main\n\nfunc main() {}\n")
	carrier := filepath.Join(root, "carrier")
	if err := os.MkdirAll(carrier, 0o755); err != nil {
		t.Fatal(err)
	}
	const ref = "registry.example.com/team/app:v1"
	yml := "image: carrier\nimages:\n  - package: ../pkg\n    name: " + ref + "\n    path: /var/lib/images/app.tar\n"
	if err := os.WriteFile(filepath.Join(carrier, FileName), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	before := tagOf(t, carrier)

	cache := openCache(t)
	got, err := Build(context.Background(), carrier, Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	img, err := cache.Get(got)
	if err != nil {
		t.Fatal(err)
	}
	archive, ok := flatten(t, img)["var/lib/images/app.tar"]
	if !ok {
		t.Fatal("the carrier has no /var/lib/images/app.tar")
	}
	if mode := archive.hdr.Mode & 0o777; mode != 0o644 {
		t.Errorf("archive mode: got %o, want 644", mode)
	}

	// docker save's manifest.json names the image.
	var manifest []struct{ RepoTags []string }
	tr := tar.NewReader(bytes.NewReader(archive.data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if h.Name == "manifest.json" {
			if err := json.NewDecoder(tr).Decode(&manifest); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(manifest) != 1 || len(manifest[0].RepoTags) != 1 || manifest[0].RepoTags[0] != ref {
		t.Fatalf("manifest.json: got %+v, want one image tagged %s", manifest, ref)
	}

	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "app.tar")
	if err := os.WriteFile(path, archive.data, 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatalf("reading the archive: %v", err)
	}
	appRef, err := Build(context.Background(), filepath.Join(root, "pkg"), Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	app, err := cache.Get(appRef)
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range []struct {
		what string
		get  func() (any, error)
		want func() (any, error)
	}{
		{"config digest", func() (any, error) { return loaded.ConfigName() }, func() (any, error) { return app.ConfigName() }},
		{"layers", func() (any, error) { return layerDigests(loaded) }, func() (any, error) { return layerDigests(app) }},
	} {
		g, err := im.get()
		if err != nil {
			t.Fatal(err)
		}
		w, err := im.want()
		if err != nil {
			t.Fatal(err)
		}
		if gj, wj := mustJSON(t, g), mustJSON(t, w); gj != wj {
			t.Errorf("%s: got %s, want %s (the cached image's)", im.what, gj, wj)
		}
	}

	if err := os.WriteFile(filepath.Join(root, "pkg", "data.txt"), []byte("two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if after := tagOf(t, carrier); after == before {
		t.Errorf("the carried package changed, the carrier's tag stayed %s", after)
	}
}

func layerDigests(img v1.Image) ([]string, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		out = append(out, d.String())
	}
	return out, nil
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
