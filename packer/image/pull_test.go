package image

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/keel-os/keel/internal/testutil"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// testRegistry is an in-process registry; requests counts what reaches it.
type testRegistry struct {
	host     string
	requests atomic.Int64
	// corrupt, when set, flips a byte of every blob the registry serves.
	corrupt atomic.Bool
}

func newRegistry(t *testing.T) *testRegistry {
	t.Helper()
	r := &testRegistry{}
	h := testutil.RegistryHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.requests.Add(1)
		if r.corrupt.Load() && strings.Contains(req.URL.Path, "/blobs/") && req.Method == http.MethodGet {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body := rec.Body.Bytes()
			if len(body) > 0 {
				body[len(body)/2] ^= 0xff
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(body)
			return
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.host = strings.TrimPrefix(srv.URL, "http://")
	return r
}

func (r *testRegistry) push(t *testing.T, ref string, img v1.Image) name.Reference {
	t.Helper()
	n, err := name.ParseReference(r.host + "/" + ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(n, img); err != nil {
		t.Fatal(err)
	}
	return n
}

func newPuller(t *testing.T) *Puller {
	t.Helper()
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Anonymous: tests must not depend on the user's Docker config.
	return &Puller{Cache: c, Keychain: authn.NewMultiKeychain()}
}

func layerDigests(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Hash
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

func sameLayers(t *testing.T, got, want v1.Image) bool {
	g, w := layerDigests(t, got), layerDigests(t, want)
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		if g[i] != w[i] {
			return false
		}
	}
	return true
}

func TestPullImageAndPinnedDigest(t *testing.T) {
	reg := newRegistry(t)
	img := randomImage(t)
	n := reg.push(t, "keel/app:v1", img)
	p := newPuller(t)
	ctx := context.Background()

	if err := p.Pull(ctx, n.String()); err != nil {
		t.Fatal(err)
	}
	got, err := p.Cache.Get(n.String())
	if err != nil {
		t.Fatal(err)
	}
	if !sameLayers(t, got, img) {
		t.Errorf("pulled image has other layers than the pushed one")
	}

	d := digest(t, img)
	pinned := reg.host + "/keel/app@" + d.String()
	if err := p.Pull(ctx, pinned); err != nil {
		t.Fatalf("pull by digest: %v", err)
	}
	if ok, _ := p.Cache.Has(pinned); !ok {
		t.Errorf("cache has no entry %s after pulling it", pinned)
	}
	// Tag and digest together: the digest decides.
	if err := p.Pull(ctx, reg.host+"/keel/app:v1@"+d.String()); err != nil {
		t.Errorf("pull tag@digest: %v", err)
	}

	wrong := reg.host + "/keel/app@sha256:" + strings.Repeat("0", 64)
	if err := p.Pull(ctx, wrong); err == nil {
		t.Errorf("pull of an unknown digest succeeded, want an error")
	}
}

func TestPullIndexPicksArch(t *testing.T) {
	reg := newRegistry(t)
	amd, arm := randomImage(t), randomImage(t)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	n, err := name.ParseReference(reg.host + "/keel/multi:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(n, idx); err != nil {
		t.Fatal(err)
	}
	// One cache holds both variants under the same name.
	cache, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		arch string
		want v1.Image
	}{
		{"", amd},
		{"arm64", arm},
		{"amd64", amd},
	} {
		p := &Puller{Cache: cache, Keychain: authn.NewMultiKeychain(), Arch: tc.arch}
		if err := p.Pull(context.Background(), n.String()); err != nil {
			t.Fatalf("arch %q: %v", tc.arch, err)
		}
		got, err := cache.GetArch(n.String(), tc.arch)
		if err != nil {
			t.Fatalf("arch %q: %v", tc.arch, err)
		}
		if !sameLayers(t, got, tc.want) {
			t.Errorf("arch %q: pulled the wrong platform: layers differ from the linux/%s image", tc.arch, archOr(tc.arch))
		}
		cf, err := got.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		if cf.Architecture != archOr(tc.arch) {
			t.Errorf("arch %q: stored config architecture = %q, want %q", tc.arch, cf.Architecture, archOr(tc.arch))
		}
	}
	for _, arch := range Architectures {
		if ok, err := cache.HasArch(n.String(), arch); !ok || err != nil {
			t.Errorf("HasArch(%s) = %v, %v after pulling both; want true", arch, ok, err)
		}
	}
}

func TestPullWithoutArchVariantFails(t *testing.T) {
	reg := newRegistry(t)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: randomImage(t), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	multi, err := name.ParseReference(reg.host + "/keel/amdonly:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(multi, idx); err != nil {
		t.Fatal(err)
	}
	amdImg, err := mutate.ConfigFile(randomImage(t), &v1.ConfigFile{OS: "linux", Architecture: "amd64"})
	if err != nil {
		t.Fatal(err)
	}
	single := reg.push(t, "keel/single:1", amdImg)
	for _, ref := range []string{multi.String(), single.String()} {
		p := newPuller(t)
		p.Arch = "arm64"
		err := p.Pull(context.Background(), ref)
		if err == nil {
			t.Errorf("arm64 pull of amd64-only %s succeeded, want an error", ref)
			continue
		}
		if !strings.Contains(err.Error(), ref) || !strings.Contains(err.Error(), "arm64") {
			t.Errorf("error %q should name the image and arm64", err)
		}
		if ok, _ := p.Cache.HasArch(ref, "arm64"); ok {
			t.Errorf("a refused pull of %s left an arm64 entry in the cache", ref)
		}
	}
}

func TestPullCorruptBlobIsRefused(t *testing.T) {
	reg := newRegistry(t)
	n := reg.push(t, "keel/bad:1", randomImage(t))
	reg.corrupt.Store(true)
	p := newPuller(t)
	err := p.Pull(context.Background(), n.String())
	if err == nil {
		t.Fatal("pull of a corrupted blob succeeded, want an error")
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "keel/bad:1") || !strings.Contains(err.Error(), "sha256:") {
		t.Errorf("error %q should name the image and the blob digest", err)
	}
	if ok, _ := p.Cache.Has(n.String()); ok {
		t.Errorf("a failed pull left an entry in the cache")
	}
}

func TestEnsurePolicies(t *testing.T) {
	reg := newRegistry(t)
	a := reg.push(t, "keel/a:1", randomImage(t))
	b := reg.push(t, "keel/b:1", randomImage(t))
	refs := []string{a.String(), b.String(), a.String(), "@pkg:./ignored"}
	ctx := context.Background()

	p := newPuller(t)
	err := p.Ensure(ctx, refs, PullNever)
	if err == nil || !strings.Contains(err.Error(), "--pull=never") {
		t.Fatalf("Ensure never on an empty cache: got %v, want a --pull=never error", err)
	}
	if err := p.Ensure(ctx, refs, PullMissing); err != nil {
		t.Fatal(err)
	}
	for _, r := range refs[:2] {
		if ok, _ := p.Cache.Has(r); !ok {
			t.Errorf("after Ensure missing: %s not cached", r)
		}
	}
	before := reg.requests.Load()
	if err := p.Ensure(ctx, refs, PullMissing); err != nil {
		t.Fatal(err)
	}
	if err := p.Ensure(ctx, refs, PullNever); err != nil {
		t.Fatal(err)
	}
	if got := reg.requests.Load() - before; got != 0 {
		t.Errorf("Ensure missing/never with everything cached made %d requests, want 0", got)
	}
	// always re-resolves the tags (but fetches no blob it has).
	if err := p.Ensure(ctx, refs, PullAlways); err != nil {
		t.Fatal(err)
	}
	if reg.requests.Load() == before {
		t.Errorf("Ensure always made no request, want the tags re-resolved")
	}
	if err := p.Ensure(ctx, refs, "sometimes"); err == nil {
		t.Errorf("unknown policy accepted")
	}
	// Failures are all reported.
	err = p.Ensure(ctx, []string{reg.host + "/no/such:1", reg.host + "/no/other:1"}, PullMissing)
	if err == nil || !strings.Contains(err.Error(), "no/such") || !strings.Contains(err.Error(), "no/other") {
		t.Errorf("Ensure of two missing images: got %v, want both named", err)
	}
}
