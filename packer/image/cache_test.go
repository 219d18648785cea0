package image

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{in: "linuxkit/init:abc", want: "index.docker.io/linuxkit/init:abc"},
		{in: "docker.io/linuxkit/init:abc", want: "index.docker.io/linuxkit/init:abc"},
		{in: "index.docker.io/linuxkit/init:abc", want: "index.docker.io/linuxkit/init:abc"},
		{in: "alpine", want: "index.docker.io/library/alpine:latest"},
		{in: "keel/init:0123456789abcdef0123", want: "index.docker.io/keel/init:0123456789abcdef0123"},
		{in: "localhost:5000/x/y:1", want: "localhost:5000/x/y:1"},
		{in: "ghcr.io/a/b@sha256:" + strings.Repeat("a", 64), want: "ghcr.io/a/b@sha256:" + strings.Repeat("a", 64)},
		{in: "", wantErr: true},
		{in: "  ", wantErr: true},
		{in: "UPPER/case:x", wantErr: true},
		{in: "a/b:bad tag", wantErr: true},
		{in: "a/b@sha256:short", wantErr: true},
	}
	for _, tc := range tests {
		got, err := Normalize(tc.in)
		if tc.wantErr {
			if err == nil {
				t.Errorf("Normalize(%q) = %q, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func randomImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestOpenCreatesLayout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "cache")
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"oci-layout", "index.json", "blobs/sha256"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("after Open: %v", err)
		}
	}
	entries, err := c.List()
	if err != nil || len(entries) != 0 {
		t.Errorf("List on a new cache = %v, %v; want empty", entries, err)
	}
	// Reopening an existing cache keeps it.
	if _, err := Open(dir); err != nil {
		t.Errorf("reopen: %v", err)
	}
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("KEEL_CACHE", "/k")
	t.Setenv("XDG_CACHE_HOME", "/x")
	if d, _ := DefaultDir(); d != "/k" {
		t.Errorf("with KEEL_CACHE: got %s, want /k", d)
	}
	t.Setenv("KEEL_CACHE", "")
	if d, _ := DefaultDir(); d != "/x/keel" {
		t.Errorf("with XDG_CACHE_HOME: got %s, want /x/keel", d)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/h")
	if d, _ := DefaultDir(); d != "/h/.cache/keel" {
		t.Errorf("with HOME: got %s, want /h/.cache/keel", d)
	}
}

func TestPutGetReplaceList(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, b := randomImage(t), randomImage(t)
	if err := c.Put("linuxkit/init:abc", a); err != nil {
		t.Fatal(err)
	}
	if err := c.Put("keel/other:1", b); err != nil {
		t.Fatal(err)
	}

	// Another spelling of the same reference finds the same entry.
	got, err := c.Get("docker.io/linuxkit/init:abc")
	if err != nil {
		t.Fatal(err)
	}
	cf, err := got.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("stored config platform = %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	gotLayers, _ := got.Layers()
	wantLayers, _ := a.Layers()
	if len(gotLayers) != len(wantLayers) {
		t.Fatalf("got %d layers, want %d", len(gotLayers), len(wantLayers))
	}
	for i := range gotLayers {
		gd, _ := gotLayers[i].Digest()
		wd, _ := wantLayers[i].Digest()
		if gd != wd {
			t.Errorf("layer %d: got %s, want %s", i, gd, wd)
		}
	}
	if ok, err := c.Has("linuxkit/init:abc"); !ok || err != nil {
		t.Errorf("Has = %v, %v; want true", ok, err)
	}

	// Replace: same name, different image.
	if err := c.Put("index.docker.io/linuxkit/init:abc", b); err != nil {
		t.Fatal(err)
	}
	got, err = c.Get("linuxkit/init:abc")
	if err != nil {
		t.Fatal(err)
	}
	other, err := c.Get("keel/other:1")
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, got) != digest(t, other) {
		t.Errorf("after replace: got %s, want %s", digest(t, got), digest(t, other))
	}

	entries, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, e := range entries {
		refs = append(refs, e.Ref)
		if e.MediaType != types.DockerManifestSchema2 && e.MediaType != types.OCIManifestSchema1 {
			t.Errorf("entry %s media type %s, want an image manifest", e.Ref, e.MediaType)
		}
	}
	want := "index.docker.io/keel/other:1 index.docker.io/linuxkit/init:abc"
	if strings.Join(refs, " ") != want {
		t.Errorf("List refs = %v, want %s", refs, want)
	}
}

func TestGetMissing(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Get("keel/nope:1")
	if err == nil || !strings.Contains(err.Error(), "keel pkg build") || !strings.Contains(err.Error(), c.Dir()) {
		t.Errorf("Get of a missing image: got %v, want an error naming the cache and 'keel pkg build'", err)
	}
	if ok, err := c.Has("keel/nope:1"); ok || err != nil {
		t.Errorf("Has = %v, %v; want false, nil", ok, err)
	}
	if _, err := c.Get("Bad Ref"); err == nil {
		t.Error("Get of an invalid reference: got nil error")
	}
}

func TestPutRefusesOtherPlatform(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTree()
	if err := tr.AddBytes("/f", 0o644, []byte("x")); err != nil {
		t.Fatal(err)
	}
	img, err := NewImage(tr, v1.Config{})
	if err != nil {
		t.Fatal(err)
	}
	same, err := withPlatform(img)
	if err != nil || digest(t, same) != digest(t, img) {
		t.Fatalf("withPlatform changed a linux/amd64 image: %v", err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.Architecture = "s390x"
	bad := &configOverride{Image: img, cf: cf}
	if err := c.Put("x/y:1", bad); err == nil || !strings.Contains(err.Error(), "s390x") {
		t.Errorf("Put of an s390x image: got %v, want an error naming s390x", err)
	}
}

func TestCacheKeepsOneImagePerArch(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	tr := NewTree()
	if err := tr.AddBytes("/f", 0o644, []byte("x")); err != nil {
		t.Fatal(err)
	}
	imgs := map[string]v1.Image{}
	for _, arch := range Architectures {
		img, err := NewImageArch(tr, v1.Config{}, arch)
		if err != nil {
			t.Fatal(err)
		}
		imgs[arch] = img
	}
	if err := c.Put("x/y:1", imgs["amd64"]); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.HasArch("x/y:1", "arm64"); ok {
		t.Errorf("HasArch(arm64) = true with only the amd64 image stored")
	}
	_, err = c.GetArch("x/y:1", "arm64")
	if err == nil || !strings.Contains(err.Error(), "no linux/arm64 variant") || !strings.Contains(err.Error(), "x/y:1") {
		t.Errorf("GetArch(arm64) with only amd64 stored: got %v, want an error naming the image and its missing arm64 variant", err)
	}
	if err := c.Put("x/y:1", imgs["arm64"]); err != nil {
		t.Fatal(err)
	}
	// Storing again replaces only that architecture's entry.
	if err := c.Put("x/y:1", imgs["arm64"]); err != nil {
		t.Fatal(err)
	}
	for arch, want := range imgs {
		got, err := c.GetArch("x/y:1", arch)
		if err != nil {
			t.Fatalf("GetArch(%s): %v", arch, err)
		}
		if digest(t, got) != digest(t, want) {
			t.Errorf("GetArch(%s) = %s, want %s", arch, digest(t, got), digest(t, want))
		}
	}
	entries, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	var arches []string
	for _, e := range entries {
		arches = append(arches, e.Arch)
	}
	if got, want := strings.Join(arches, ","), "amd64,arm64"; got != want {
		t.Errorf("List architectures = %s, want %s", got, want)
	}
}

// configOverride reports a different config file; only ConfigFile is used
// by the platform check.
type configOverride struct {
	v1.Image
	cf *v1.ConfigFile
}

func (c *configOverride) ConfigFile() (*v1.ConfigFile, error) { return c.cf, nil }

// failingLayer breaks its stream half-way, like an interrupted download.
type failingLayer struct{ v1.Layer }

func (f failingLayer) Compressed() (io.ReadCloser, error) {
	rc, err := f.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return io.NopCloser(io.MultiReader(io.LimitReader(rc, 10), errReader{})), nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

type failingImage struct{ v1.Image }

func (f failingImage) Layers() ([]v1.Layer, error) {
	ls, err := f.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = failingLayer{l}
	}
	return out, nil
}

func TestPutInterruptedLeavesCacheIntact(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	old := randomImage(t)
	if err := c.Put("keel/a:1", old); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Hold the old index open: an in-place rewrite would change what we read.
	f, err := os.Open(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	plat, err := withPlatform(randomImage(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put("keel/a:1", failingImage{plat}); err == nil {
		t.Fatal("Put with a broken layer stream: got nil error")
	}
	after, _ := os.ReadFile(filepath.Join(dir, "index.json"))
	if string(after) != string(before) {
		t.Errorf("index changed by a failed Put:\n got %s\nwant %s", after, before)
	}
	// No blob may exist under a name its content does not match.
	layers, _ := plat.Layers()
	for _, l := range layers {
		d, _ := l.Digest()
		if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", d.Hex)); err == nil {
			t.Errorf("partial blob %s left under its final name", d)
		}
	}
	if got, err := c.Get("keel/a:1"); err != nil || digest(t, got) != digest(t, mustPlatform(t, old)) {
		t.Errorf("old entry lost after a failed Put: %v", err)
	}

	// A successful Put replaces index.json by rename: the old file, still
	// open, keeps its old content.
	if err := c.Put("keel/b:1", randomImage(t)); err != nil {
		t.Fatal(err)
	}
	held, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	if string(held) != string(before) {
		t.Errorf("index.json was rewritten in place, not replaced by rename")
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".index.json.tmp-*"))
	tmpBlobs, _ := filepath.Glob(filepath.Join(dir, "blobs", "sha256", ".tmp-*"))
	if len(leftovers)+len(tmpBlobs) != 0 {
		t.Errorf("temporary files left behind: %v %v", leftovers, tmpBlobs)
	}
}

func mustPlatform(t *testing.T, img v1.Image) v1.Image {
	t.Helper()
	p, err := withPlatform(img)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCorruptIndex(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte("{trunc"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("Open with a corrupt index: got %v, want a 'corrupt' error", err)
	}
}

func TestDefaultDirUnknown(t *testing.T) {
	t.Setenv("KEEL_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	d, err := DefaultDir()
	if err == nil || !strings.Contains(err.Error(), "set KEEL_CACHE") {
		t.Fatalf("with no KEEL_CACHE, XDG_CACHE_HOME or HOME: got %q, %v; want an error that says to set KEEL_CACHE", d, err)
	}
	if _, err := Open(""); err == nil {
		t.Errorf("Open(\"\") with no directory to choose: got nil error")
	}
}

// TestIndexSeenAcrossCaches: each Cache keeps index.json parsed, yet sees
// what another Cache on the same directory (another keel process) wrote,
// and what one caller does with the index it read stays its own.
func TestIndexSeenAcrossCaches(t *testing.T) {
	dir := t.TempDir()
	first, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, b := randomImage(t), randomImage(t)
	if err := first.Put("keel/a:1", a); err != nil {
		t.Fatal(err)
	}
	if ok, err := second.Has("keel/a:1"); err != nil || !ok {
		t.Fatalf("second cache Has(keel/a:1) = %v, %v; want true", ok, err)
	}
	if err := second.Put("keel/b:1", b); err != nil {
		t.Fatal(err)
	}
	if ok, err := first.Has("keel/b:1"); err != nil || !ok {
		t.Fatalf("first cache Has(keel/b:1) after the second stored it = %v, %v; want true", ok, err)
	}
	m, err := first.readIndex()
	if err != nil {
		t.Fatal(err)
	}
	m.Manifests = m.Manifests[:0]
	list, err := first.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Errorf("got %d entries after a caller emptied its copy of the index, want 2", len(list))
	}
	if removed, err := second.Remove("keel/a:1"); err != nil || !removed {
		t.Fatalf("Remove(keel/a:1) = %v, %v; want true", removed, err)
	}
	if ok, err := first.Has("keel/a:1"); err != nil || ok {
		t.Errorf("first cache Has(keel/a:1) after the second removed it = %v, %v; want false", ok, err)
	}
}
