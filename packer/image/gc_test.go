package image

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestCleanRemovesOnlyUnreachableBlobs(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, b := randomImage(t), randomImage(t)
	if err := c.Put("keel/a:1", a); err != nil {
		t.Fatal(err)
	}
	if err := c.Put("keel/b:1", b); err != nil {
		t.Fatal(err)
	}
	stray := filepath.Join(c.Dir(), "blobs", "sha256", ".tmp-0123456789ab-1")
	if err := os.WriteFile(stray, []byte("half a blob"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Remove("keel/b:1"); err != nil {
		t.Fatal(err)
	}
	st, err := c.Clean()
	if err != nil {
		t.Fatal(err)
	}
	// b's two layers, its config and its manifest, and the stray file.
	if st.Blobs != 5 {
		t.Errorf("Clean removed %d files, want 5", st.Blobs)
	}
	if _, err := os.Stat(stray); !os.IsNotExist(err) {
		t.Errorf("temporary file survived Clean: %v", err)
	}
	got, err := c.Get("keel/a:1")
	if err != nil {
		t.Fatal(err)
	}
	if !sameLayers(t, got, a) {
		t.Error("a's layers changed after Clean")
	}
	if st, err := c.Clean(); err != nil || st.Blobs != 0 {
		t.Errorf("second Clean: removed %d, %v; want 0, nil", st.Blobs, err)
	}
}

func TestExportRoundTrip(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	img := randomImage(t)
	if err := c.Put("keel/x:1", img); err != nil {
		t.Fatal(err)
	}
	stored, err := c.Get("keel/x:1")
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{ExportOCI, ExportDocker} {
		t.Run(format, func(t *testing.T) {
			var first, second bytes.Buffer
			if err := c.Export("keel/x:1", format, &first); err != nil {
				t.Fatal(err)
			}
			if err := c.Export("keel/x:1", format, &second); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first.Bytes(), second.Bytes()) {
				t.Error("two exports of the same image differ")
			}
			file := filepath.Join(t.TempDir(), "x.tar")
			if err := os.WriteFile(file, first.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			other, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			refs, err := other.Import(file, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(refs) != 1 || refs[0] != "index.docker.io/keel/x:1" {
				t.Errorf("imported %v, want [index.docker.io/keel/x:1]", refs)
			}
			got, err := other.Get("keel/x:1")
			if err != nil {
				t.Fatal(err)
			}
			if !sameLayers(t, got, stored) {
				t.Error("layers differ after export and import")
			}
			if format == ExportOCI && digest(t, got) != digest(t, stored) {
				t.Errorf("OCI round trip: digest %s, want %s", digest(t, got), digest(t, stored))
			}
		})
	}
	if err := c.Export("keel/missing:1", ExportOCI, &bytes.Buffer{}); err == nil {
		t.Error("exporting a missing image: got nil error")
	}
	if err := c.Export("keel/x:1", "zip", &bytes.Buffer{}); err == nil {
		t.Error("unknown format: got nil error")
	}
}
