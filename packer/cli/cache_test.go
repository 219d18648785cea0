package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-os/keel/packer/image"
)

// TestCacheExportImportClean runs `keel cache` subcommands in-process the
// way a user chains them: export an image, import it into another cache,
// remove it, clean.
func TestCacheExportImportClean(t *testing.T) {
	cache := cacheWith(t)
	keel := func(args ...string) (string, int) {
		var stdout, stderr bytes.Buffer
		code := Run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
		return stdout.String() + stderr.String(), code
	}
	archive := filepath.Join(t.TempDir(), "svc.tar")
	if out, code := keel("--cache", cache, "cache", "export", "test/svc:1", "-o", archive); code != 0 {
		t.Fatalf("export: exit %d: %s", code, out)
	}
	other := t.TempDir()
	if out, code := keel("--cache", other, "cache", "import", archive); code != 0 || !strings.Contains(out, "index.docker.io/test/svc:1") {
		t.Fatalf("import: exit %d: %s", code, out)
	}
	failDir := t.TempDir()
	if out, code := keel("--cache", cache, "cache", "export", "test/nothere:1", "-o", filepath.Join(failDir, "x.tar")); code == 0 {
		t.Errorf("exporting a missing image: exit 0, want failure: %s", out)
	} else if entries, _ := os.ReadDir(failDir); len(entries) != 0 {
		t.Errorf("a failed export left files behind: %v", entries)
	}
	if out, code := keel("--cache", cache, "cache", "rm", "test/svc:1"); code != 0 {
		t.Fatalf("rm: exit %d: %s", code, out)
	}
	out, code := keel("--cache", cache, "cache", "clean")
	if code != 0 || !strings.HasPrefix(out, "removed 3 blobs") {
		t.Errorf("clean: exit %d, %q; want removed 3 blobs (layer, config, manifest)", code, out)
	}
	if out, code := keel("--cache", cache, "cache", "ls"); code != 0 || strings.Contains(out, "svc") || !strings.Contains(out, "kernel") {
		t.Errorf("ls after clean: exit %d: %q; want the kernel only", code, out)
	}
	if out, code := keel("--cache", cache, "cache", "clean", "--all"); code != 0 {
		t.Fatalf("clean --all: exit %d: %s", code, out)
	}
	if out, _ := keel("--cache", cache, "cache", "ls"); strings.TrimSpace(out) != "" {
		t.Errorf("ls after clean --all: %q, want nothing", out)
	}
}

// TestCacheFunctions calls each `keel cache` function directly, without
// cobra, on a fresh cache holding test/kernel:1 and test/svc:1.
func TestCacheFunctions(t *testing.T) {
	ctx := context.Background()
	archive := func(t *testing.T, c *image.Cache) string {
		p := filepath.Join(t.TempDir(), "svc.tar")
		if err := cacheExport(ctx, cacheExportOptions{Cache: c, Ref: "test/svc:1", Format: image.ExportOCI, Output: p}, io.Discard); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name string
		// run calls the function; it returns the error and lets the
		// check below see the cache after it.
		run     func(t *testing.T, c *image.Cache, stdout io.Writer) error
		wantOut []string // substrings of stdout, in order
		wantErr string
		check   func(t *testing.T, c *image.Cache)
	}{
		{name: "ls", run: func(t *testing.T, c *image.Cache, w io.Writer) error {
			return cacheLs(ctx, cacheLsOptions{Cache: c}, w)
		}, wantOut: []string{"index.docker.io/test/kernel:1  amd64  sha256:", "index.docker.io/test/svc:1     amd64  sha256:"}},
		{name: "rm", run: func(t *testing.T, c *image.Cache, w io.Writer) error {
			return cacheRm(ctx, cacheRmOptions{Cache: c, Refs: []string{"test/svc:1"}})
		}, check: func(t *testing.T, c *image.Cache) { wantRefs(t, c, "index.docker.io/test/kernel:1") }},
		{name: "rm missing", run: func(t *testing.T, c *image.Cache, w io.Writer) error {
			return cacheRm(ctx, cacheRmOptions{Cache: c, Refs: []string{"test/svc:1", "test/nothere:1"}})
		}, wantErr: "image test/nothere:1 is not in the cache"},
		{name: "clean keeps used blobs", run: func(t *testing.T, c *image.Cache, w io.Writer) error {
			return cacheClean(ctx, cacheCleanOptions{Cache: c}, w)
		}, wantOut: []string{"removed 0 blobs, 0.0 MB"}, check: func(t *testing.T, c *image.Cache) {
			wantRefs(t, c, "index.docker.io/test/kernel:1", "index.docker.io/test/svc:1")
		}},
		{name: "clean all", run: func(t *testing.T, c *image.Cache, w io.Writer) error {
			if err := os.MkdirAll(c.SegmentDir(), 0o755); err != nil {
				return err
			}
			return cacheClean(ctx, cacheCleanOptions{Cache: c, All: true}, w)
		}, wantOut: []string{"removed 6 blobs"}, check: func(t *testing.T, c *image.Cache) {
			wantRefs(t, c)
			if _, err := os.Stat(c.SegmentDir()); !os.IsNotExist(err) {
				t.Errorf("segments after clean --all: %v, want them gone", err)
			}
		}},
		{name: "export to stdout", run: func(t *testing.T, c *image.Cache, w io.Writer) error {
			return cacheExport(ctx, cacheExportOptions{Cache: c, Ref: "test/svc:1", Format: image.ExportDocker, Output: "-"}, w)
		}, wantOut: []string{"manifest.json"}},
		{name: "export missing", run: func(t *testing.T, c *image.Cache, w io.Writer) error {
			return cacheExport(ctx, cacheExportOptions{Cache: c, Ref: "test/nothere:1", Format: image.ExportOCI, Output: filepath.Join(c.Dir(), "x.tar")}, w)
		}, wantErr: "nothere", check: func(t *testing.T, c *image.Cache) {
			if _, err := os.Stat(filepath.Join(c.Dir(), "x.tar")); !os.IsNotExist(err) {
				t.Errorf("a failed export left its file: %v", err)
			}
		}},
		{name: "import under a name", run: func(t *testing.T, c *image.Cache, w io.Writer) error {
			return cacheImport(ctx, cacheImportOptions{Cache: c, Source: archive(t, c), As: "test/copy:2"}, w)
		}, wantOut: []string{"index.docker.io/test/copy:2\n"}},
		{name: "pull with a wrong arch", run: func(t *testing.T, c *image.Cache, w io.Writer) error {
			return cachePull(ctx, cachePullOptions{Cache: c, Refs: []string{"test/svc:1"}, Arch: "mips"})
		}, wantErr: "--arch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := image.Open(cacheWith(t))
			if err != nil {
				t.Fatal(err)
			}
			var stdout bytes.Buffer
			err = tt.run(t, c, &stdout)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("got error %v, want %q", err, tt.wantErr)
			}
			out := stdout.String()
			for _, w := range tt.wantOut {
				i := strings.Index(out, w)
				if i < 0 {
					t.Fatalf("stdout: got %q, want %q in it (in order)", stdout.String(), w)
				}
				out = out[i+len(w):]
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

// wantRefs checks the cache names exactly refs.
func wantRefs(t *testing.T, c *image.Cache, refs ...string) {
	t.Helper()
	entries, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Ref)
	}
	if strings.Join(got, " ") != strings.Join(refs, " ") {
		t.Errorf("cached images: got %v, want %v", got, refs)
	}
}
