package image

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestPushThenPull(t *testing.T) {
	reg := newRegistry(t)
	src := newPuller(t).Cache
	tree := NewTree()
	if err := tree.AddBytes("/etc/app", 0o644, []byte("app\n")); err != nil {
		t.Fatal(err)
	}
	img, err := NewImage(tree, v1.Config{Entrypoint: []string{"/app"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Put("keel/app:0123abcd", img); err != nil {
		t.Fatal(err)
	}
	want, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}

	p := &Pusher{Cache: src, Keychain: authn.NewMultiKeychain()}
	got, err := p.Push(context.Background(), "keel/app:0123abcd", reg.host)
	if err != nil {
		t.Fatal(err)
	}
	if got.ImageDigest != want {
		t.Errorf("pushed image digest: got %s, want the cached %s", got.ImageDigest, want)
	}

	// Pull both names into a fresh cache the way `keel build` would.
	for _, ref := range []string{reg.host + "/keel/app:0123abcd", reg.host + "/keel/app:0123abcd-amd64"} {
		puller := newPuller(t)
		if err := puller.Pull(context.Background(), ref); err != nil {
			t.Fatal(err)
		}
		pulled, err := puller.Cache.Get(ref)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := pulled.Digest(); d != want {
			t.Errorf("%s: pulled digest %s, want %s", ref, d, want)
		}
	}
	idxRef, err := name.ParseReference(got.Index)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(idxRef)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || m.Manifests[0].Digest != want || m.Manifests[0].Platform == nil || m.Manifests[0].Platform.Architecture != Architecture {
		t.Errorf("index %s: got %+v, want one linux/amd64 entry %s", got.Index, m.Manifests, want)
	}
}

func TestPushErrors(t *testing.T) {
	reg := newRegistry(t)
	c := newPuller(t).Cache
	if err := c.Put("keel/app:v1", randomImage(t)); err != nil {
		t.Fatal(err)
	}
	p := &Pusher{Cache: c, Keychain: authn.NewMultiKeychain()}
	tests := []struct{ ref, reg, want string }{
		{"keel/missing:v1", reg.host, "not in the cache"},
		{"keel/app@sha256:" + strings.Repeat("a", 64), reg.host, "a tag is needed"},
		{"keel/app:v1", "bad host name!", "want host[:port]"},
		// Nothing listens on port 1: the error names what was pushed.
		{"keel/app:v1", "127.0.0.1:1", "pushing 127.0.0.1:1/keel/app:v1-amd64"},
	}
	for _, tc := range tests {
		if _, err := p.Push(context.Background(), tc.ref, tc.reg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Push(%s, %s): got %v, want an error containing %q", tc.ref, tc.reg, err, tc.want)
		}
	}
}
