package image

import (
	"os"
	"path/filepath"
	"testing"
)

func TestEmpty(t *testing.T) {
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"test/a:1", "test/b:1"} {
		if err := c.Put(ref, randomImage(t)); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{c.SegmentDir(), c.DebDir()} {
		if filepath.Dir(dir) != c.Dir() {
			t.Errorf("got %s, want a folder of the cache %s", dir, c.Dir())
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Empty(); err != nil {
		t.Fatalf("Empty: %v", err)
	}
	if entries, err := c.List(); err != nil || len(entries) != 0 {
		t.Errorf("List after Empty: got %v, %v; want nothing", entries, err)
	}
	for _, dir := range []string{c.SegmentDir(), c.DebDir()} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s after Empty: got %v, want it gone", dir, err)
		}
	}
	st, err := c.Clean()
	if err != nil || st.Blobs == 0 {
		t.Errorf("Clean after Empty: got %d blobs, %v; want the two images' blobs removed", st.Blobs, err)
	}
}
