package build

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// evilImage has a good file and then an entry escaping its root, which
// the build refuses half-way through writing the image.
func evilImage(t *testing.T) v1.Image {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range []string{"bin/svc", "../escape"} {
		tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o755, Size: 1})
		tw.Write([]byte("x"))
	}
	tw.Close()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Config(img, v1.Config{Entrypoint: []string{"/bin/svc"}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// TestFailedBuildLeavesNoOutput checks that a build failing while it
// writes leaves neither partial files nor temporaries, and that a file
// named with -o keeps its previous content.
func TestFailedBuildLeavesNoOutput(t *testing.T) {
	tests := []struct {
		format string
		output bool // name the output with -o
	}{
		{FormatKernelInitrd, false},
		{FormatTar, false},
		{FormatTar, true},
		{FormatTarKernelInitrd, true},
		{FormatDocker, true},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			f := newFixture(t, "test/evil:1")
			if err := f.cache.Put("test/evil:1", evilImage(t)); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			old := filepath.Join(dir, "previous")
			if err := os.WriteFile(old, []byte("previous build"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := f.run(t, dir, func(o *Options) {
				o.Format = tt.format
				if tt.output {
					o.Output = old
				}
			})
			if err == nil || !strings.Contains(err.Error(), "escape") {
				t.Fatalf("got error %v, want one naming the escaping entry", err)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 || entries[0].Name() != "previous" {
				var names []string
				for _, e := range entries {
					names = append(names, e.Name())
				}
				t.Errorf("got %v in the output directory, want only the previous file", names)
			}
			if left, _ := filepath.Glob(filepath.Join(f.cache.SegmentDir(), ".seg-*")); len(left) != 0 {
				t.Errorf("got temporary segments %v left in the cache", left)
			}
			if got, _ := os.ReadFile(old); string(got) != "previous build" {
				t.Errorf("got previous file %q, want it untouched", got)
			}
		})
	}
}
