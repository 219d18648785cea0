package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-os/keel/internal/testutil"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/keel-os/keel/packer/image"
)

// pkgTree writes packages (dir -> build.yml) below a fresh directory.
func pkgTree(t *testing.T, pkgs map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for dir, yml := range pkgs {
		p := filepath.Join(root, dir, "build.yml")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(yml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func keel(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestPkgLs(t *testing.T) {
	root := pkgTree(t, map[string]string{
		"pkgs/a":         "image: a\nfiles:\n  - path: /a\n    contents: a\n",
		"pkgs/group/b":   "image: b\nfiles:\n  - path: /b\n    contents: b\n",
		"pkgs/.hidden/c": "image: c\n",
	})
	cache := t.TempDir()
	a, b := filepath.Join(root, "pkgs/a"), filepath.Join(root, "pkgs/group/b")
	code, built, stderr := keel(t, "--cache", cache, "pkg", "build", a)
	if code != 0 {
		t.Fatalf("pkg build: exit %d: %s", code, stderr)
	}
	aRef := strings.TrimSpace(built)

	code, out, stderr := keel(t, "--cache", cache, "pkg", "ls", "--json", filepath.Join(root, "pkgs"))
	if code != 0 {
		t.Fatalf("pkg ls: exit %d: %s", code, stderr)
	}
	var rows []pkgListing
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("pkg ls --json: %v\n%s", err, out)
	}
	if len(rows) != 2 {
		t.Fatalf("pkg ls: got %d rows, want 2 (a and group/b; hidden dirs skipped): %+v", len(rows), rows)
	}
	c, err := image.Open(cache)
	if err != nil {
		t.Fatal(err)
	}
	img, err := c.Get(aRef)
	if err != nil {
		t.Fatal(err)
	}
	wantSize, _ := image.StoredSize(img)
	wantDigest, _ := img.Digest()
	tests := []struct {
		got  pkgListing
		want pkgListing
	}{
		{rows[0], pkgListing{Dir: a, Ref: aRef, Built: true, Digest: wantDigest.String(), Size: wantSize}},
		{rows[1], pkgListing{Dir: b, Ref: rows[1].Ref, Built: false}},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("row: got %+v, want %+v", tc.got, tc.want)
		}
	}
	if !strings.HasPrefix(rows[1].Ref, "keel/b:") {
		t.Errorf("b's reference: got %q, want keel/b:<tag>", rows[1].Ref)
	}

	// The table names the same things.
	code, out, _ = keel(t, "--cache", cache, "pkg", "ls", filepath.Join(root, "pkgs"))
	if code != 0 || !strings.Contains(out, aRef+"  yes") || !strings.Contains(out, rows[1].Ref+"  no") {
		t.Errorf("pkg ls table (exit %d):\n%s", code, out)
	}
}

func TestPkgLsErrors(t *testing.T) {
	root := pkgTree(t, map[string]string{
		"pkgs/good": "image: good\n",
		"pkgs/bad":  "image: bad\nfrom: ../missing\n",
	})
	code, out, stderr := keel(t, "--cache", t.TempDir(), "pkg", "ls", filepath.Join(root, "pkgs"))
	if code == 0 || !strings.Contains(out, "error: from ../missing") || !strings.Contains(out, "keel/good:") || !strings.Contains(stderr, "1 of 2 packages") {
		t.Errorf("pkg ls with a broken package: exit %d, stdout:\n%s\nstderr: %s", code, out, stderr)
	}
	code, _, stderr = keel(t, "--cache", t.TempDir(), "pkg", "ls", t.TempDir())
	if code == 0 || !strings.Contains(stderr, "no package") {
		t.Errorf("pkg ls of an empty dir: exit %d, stderr %s; want an error", code, stderr)
	}
}

func TestPkgBuildPush(t *testing.T) {
	host := testutil.Registry(t)
	root := pkgTree(t, map[string]string{"app": "image: app\norg: test\nfiles:\n  - path: /app\n    contents: app\n"})
	cache := t.TempDir()
	t.Setenv("DOCKER_CONFIG", t.TempDir()) // anonymous, whatever the user's config says

	code, out, stderr := keel(t, "--cache", cache, "pkg", "build", "--push", host, filepath.Join(root, "app"))
	if code != 0 {
		t.Fatalf("pkg build --push: exit %d: %s", code, stderr)
	}
	pushed := strings.TrimSpace(out)
	_, local, _ := keel(t, "--cache", cache, "pkg", "show-tag", filepath.Join(root, "app"))
	if want := host + "/" + strings.TrimSpace(local); pushed != want {
		t.Fatalf("pushed reference: got %s, want %s", pushed, want)
	}
	c, err := image.Open(cache)
	if err != nil {
		t.Fatal(err)
	}
	img, err := c.Get(strings.TrimSpace(local))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	ref, err := name.ParseReference(pushed)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	got, err := desc.Image() // the index's linux/amd64 image
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := got.Digest(); d != want {
		t.Errorf("pulled %s: digest %s, want the built %s", pushed, d, want)
	}
}
