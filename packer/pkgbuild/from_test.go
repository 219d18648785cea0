package pkgbuild

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	kbundle "github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/packer/image"
)

// writeTree writes name -> content below a fresh directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const baseYML = `image: base
files:
  - path: /etc/base
    contents: "base\n"
  - path: /etc/shared
    contents: "from base\n"
config: {pid: host}
entrypoint: [/bin/base]
env: [A=1, B=2]
`

func TestFromPackage(t *testing.T) {
	tests := []struct {
		name      string
		childYML  string
		wantLabel string
		wantEntry string
		wantEnv   string
	}{
		{"inherits config", "image: child\nfrom: ../base\nfiles:\n  - path: /etc/shared\n    contents: \"from child\\n\"\n",
			`{"pid":"host"}`, "/bin/base", "A=1 B=2"},
		{"own config wins", "image: child\nfrom: ../base\nconfig: {net: host}\nentrypoint: [/bin/child]\nenv: [B=3, C=4]\n" +
			"files:\n  - path: /etc/shared\n    contents: \"from child\\n\"\n",
			`{"net":"host"}`, "/bin/child", "A=1 B=3 C=4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := writeTree(t, map[string]string{"base/build.yml": baseYML, "child/build.yml": tc.childYML})
			cache := openCache(t)
			ref, err := Build(context.Background(), filepath.Join(root, "child"), Options{Cache: cache})
			if err != nil {
				t.Fatal(err)
			}
			baseRef := refOf(t, filepath.Join(root, "base"))
			if has, err := cache.Has(baseRef); err != nil || !has {
				t.Errorf("base %s in the cache: got %v, %v; want it built first", baseRef, has, err)
			}
			img, err := cache.Get(ref)
			if err != nil {
				t.Fatal(err)
			}
			if layers, _ := img.Layers(); len(layers) != 2 {
				t.Errorf("got %d layers, want 2 (the base's and the child's)", len(layers))
			}
			files := flatten(t, img)
			if got := string(files["etc/base"].data); got != "base\n" {
				t.Errorf("/etc/base: got %q, want the base's \"base\\n\"", got)
			}
			if got := string(files["etc/shared"].data); got != "from child\n" {
				t.Errorf("/etc/shared: got %q, want the child's version", got)
			}
			label, _, _ := image.Label(img, kbundle.LabelKey)
			cfg, _ := image.Config(img)
			if label != tc.wantLabel {
				t.Errorf("label: got %s, want %s", label, tc.wantLabel)
			}
			if got := strings.Join(cfg.Entrypoint, " "); got != tc.wantEntry {
				t.Errorf("entrypoint: got %s, want %s", got, tc.wantEntry)
			}
			if got := strings.Join(cfg.Env, " "); got != tc.wantEnv {
				t.Errorf("env: got %s, want %s", got, tc.wantEnv)
			}

			// Same inputs into a fresh cache: same digest.
			other := openCache(t)
			if _, err := Build(context.Background(), filepath.Join(root, "child"), Options{Cache: other}); err != nil {
				t.Fatal(err)
			}
			if a, b := imageDigest(t, cache, ref), imageDigest(t, other, ref); a != b {
				t.Errorf("rebuild digest: got %s, want %s", b, a)
			}
		})
	}
}

func refOf(t *testing.T, dir string) string {
	t.Helper()
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := p.Ref()
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestFromBaseChangesTag(t *testing.T) {
	root := writeTree(t, map[string]string{
		"base/build.yml":  baseYML,
		"child/build.yml": "image: child\nfrom: ../base\n",
	})
	child := filepath.Join(root, "child")
	before := tagOf(t, child)
	if again := tagOf(t, child); again != before {
		t.Fatalf("tag not stable: got %s, want %s", again, before)
	}
	if err := os.WriteFile(filepath.Join(root, "base", FileName), []byte(strings.Replace(baseYML, "base\\n", "changed\\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if after := tagOf(t, child); after == before {
		t.Errorf("tag after changing the base: got %s again, want a new tag", after)
	}
}

func TestFromErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"cycle", map[string]string{
			"a/build.yml": "image: a\nfrom: ../b\n",
			"b/build.yml": "image: b\nfrom: ../a\n",
		}, "name each other in from:"},
		{"self", map[string]string{"a/build.yml": "image: a\nfrom: .\n"}, "name each other in from:"},
		{"missing base", map[string]string{"a/build.yml": "image: a\nfrom: ../nothing\n"}, "is not a package directory"},
		{"kernel base", map[string]string{
			"a/build.yml": "image: a\nfrom: ../k\n",
			"k/build.yml": "image: k\nkernel: {debian: linux-image-cloud-amd64}\n",
		}, "a kernel package cannot be a base"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := writeTree(t, tc.files)
			p, err := Load(filepath.Join(root, "a"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.Tag(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Tag: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestFromLoadErrors(t *testing.T) {
	tests := []struct{ from, want string }{
		{"alpine:3.20", "pinned by digest"},
		{"alpine", "pinned by digest"},
		{"Not A Ref", "pinned by digest"},
	}
	for _, tc := range tests {
		_, err := Load(writePkg(t, "image: x\nfrom: "+tc.from+"\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("from %q: got %v, want an error containing %q", tc.from, err, tc.want)
		}
	}
	if _, err := Load(writePkg(t, "image: x\nfrom: ../k\nkernel: {debian: linux-image-cloud-amd64}\n")); err == nil {
		t.Error("kernel package with from: loaded, want an error")
	}
}

// A pinned image reference already in the cache is used as is: no network.
func TestFromPinnedImage(t *testing.T) {
	cache := openCache(t)
	tree := image.NewTree()
	if err := tree.AddBytes("/etc/os", 0o644, []byte("pinned\n")); err != nil {
		t.Fatal(err)
	}
	base, err := image.NewImage(tree, v1.Config{Env: []string{"PATH=/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	dig, err := base.Digest()
	if err != nil {
		t.Fatal(err)
	}
	pinned := "registry.example/os@" + dig.String()
	if err := cache.Put(pinned, base); err != nil {
		t.Fatal(err)
	}
	dir := writePkg(t, "image: x\nfrom: "+pinned+"\nfiles:\n  - path: /etc/x\n    contents: x\n")
	ref, err := Build(context.Background(), dir, Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	img, err := cache.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	files := flatten(t, img)
	if string(files["etc/os"].data) != "pinned\n" || string(files["etc/x"].data) != "x" {
		t.Errorf("files: got /etc/os %q, /etc/x %q; want the base's and the package's", files["etc/os"].data, files["etc/x"].data)
	}
	if cfg, _ := image.Config(img); strings.Join(cfg.Env, " ") != "PATH=/bin" {
		t.Errorf("env: got %v, want the base's PATH=/bin", cfg.Env)
	}
}
