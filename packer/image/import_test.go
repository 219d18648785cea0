package image

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func dockerSave(t *testing.T, tags map[string]v1.Image) string {
	t.Helper()
	refs := map[name.Tag]v1.Image{}
	for s, img := range tags {
		tag, err := name.NewTag(s)
		if err != nil {
			t.Fatal(err)
		}
		refs[tag] = img
	}
	file := filepath.Join(t.TempDir(), "save.tar")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := tarball.MultiWrite(refs, f); err != nil {
		t.Fatal(err)
	}
	return file
}

// ociLayout writes images into a new layout directory, each descriptor
// carrying the given annotations.
func ociLayout(t *testing.T, imgs []v1.Image, annotations []map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range imgs {
		if err := p.AppendImage(img, layout.WithAnnotations(annotations[i])); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func tarDir(t *testing.T, dir string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "oci.tar")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: rel, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestImport(t *testing.T) {
	a, b := randomImage(t), randomImage(t)
	layoutDir := ociLayout(t, []v1.Image{a, b}, []map[string]string{
		{RefNameAnnotation: "docker.io/linuxkit/init:v1"},                         // LinuxKit cache style
		{RefNameAnnotation: "v2", containerdNameAnnotation: "example.com/x/y:v2"}, // Docker 25 style
	})
	tests := []struct {
		name string
		src  string
		as   string
		want map[string]v1.Image // normalized ref -> image
	}{
		{name: "docker save", src: dockerSave(t, map[string]v1.Image{"keel/a:1": a, "keel/b:2": b}),
			want: map[string]v1.Image{"index.docker.io/keel/a:1": a, "index.docker.io/keel/b:2": b}},
		{name: "layout dir", src: layoutDir,
			want: map[string]v1.Image{"index.docker.io/linuxkit/init:v1": a, "example.com/x/y:v2": b}},
		{name: "oci archive", src: tarDir(t, layoutDir),
			want: map[string]v1.Image{"index.docker.io/linuxkit/init:v1": a, "example.com/x/y:v2": b}},
		{name: "renamed", src: dockerSave(t, map[string]v1.Image{"keel/a:1": a}), as: "local/renamed:x",
			want: map[string]v1.Image{"index.docker.io/local/renamed:x": a}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			refs, err := c.Import(tc.src, tc.as)
			if err != nil {
				t.Fatal(err)
			}
			if len(refs) != len(tc.want) {
				t.Errorf("got refs %v, want %d", refs, len(tc.want))
			}
			for ref, img := range tc.want {
				got, err := c.Get(ref)
				if err != nil {
					t.Errorf("after import: %v", err)
					continue
				}
				if !sameLayers(t, got, img) {
					t.Errorf("%s: layers differ from the source image", ref)
				}
			}
		})
	}
}

func TestImportErrors(t *testing.T) {
	a := randomImage(t)
	notTar := filepath.Join(t.TempDir(), "x.tar")
	os.WriteFile(notTar, []byte(strings.Repeat("nope", 300)), 0o644)
	emptyTar := filepath.Join(t.TempDir(), "e.tar")
	f, _ := os.Create(emptyTar)
	tar.NewWriter(f).Close()
	f.Close()
	evil := filepath.Join(t.TempDir(), "evil.tar")
	f, _ = os.Create(evil)
	tw := tar.NewWriter(f)
	for _, n := range []string{"oci-layout", "index.json", "../../escape"} {
		tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Size: 2, Mode: 0o644})
		io.WriteString(tw, "{}")
	}
	tw.Close()
	f.Close()

	tests := []struct {
		name, src, as, want string
	}{
		{"missing", filepath.Join(t.TempDir(), "nope"), "", "no such file"},
		{"not a tar", notTar, "", "not a tar"},
		{"empty tar", emptyTar, "", "not an image archive"},
		{"escape", evil, "", "leaves the archive"},
		{"unnamed", ociLayout(t, []v1.Image{a}, []map[string]string{{RefNameAnnotation: "latest"}}), "", "--name"},
		{"two with one name", dockerSave(t, map[string]v1.Image{"a:1": a, "b:1": randomImage(t)}), "c:1", "single name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Import(tc.src, tc.as)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestRemove(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put("keel/x:1", randomImage(t)); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.Remove("docker.io/keel/x:1"); !ok || err != nil {
		t.Errorf("Remove = %v, %v; want true, nil", ok, err)
	}
	if ok, _ := c.Has("keel/x:1"); ok {
		t.Errorf("entry still there after Remove")
	}
	if ok, err := c.Remove("keel/x:1"); ok || err != nil {
		t.Errorf("second Remove = %v, %v; want false, nil", ok, err)
	}
}
