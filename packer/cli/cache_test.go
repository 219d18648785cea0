package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
