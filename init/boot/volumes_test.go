package boot

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/keel-os/keel/internal/layout"
	"golang.org/x/sys/unix"
)

func TestReadOnlyVolumes(t *testing.T) {
	dir := t.TempDir()
	mk := func(p string) {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	touch := func(p string) {
		if err := os.WriteFile(filepath.Join(dir, p), nil, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	mk("rw/merged")
	mk("ro/merged")
	mk("ro/" + layout.VolumeReadOnly)
	mk("nomerged")
	mk("nomerged/" + layout.VolumeReadOnly)
	mk("aro/merged")
	mk("aro/" + layout.VolumeReadOnly)
	mk("filemarker/merged")
	touch("filemarker/" + layout.VolumeReadOnly)
	touch("stray-file")

	got, err := readOnlyVolumes(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "aro/merged"), filepath.Join(dir, "ro/merged")}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}

	got, err = readOnlyVolumes(filepath.Join(dir, "missing"))
	if err != nil || got != nil {
		t.Errorf("missing volumes dir: got %v, %v, want nil, nil", got, err)
	}
}

// TestReadOnlyMounts checks both ways init makes a volume read-only: the
// overlay (which also holds against a read-write bind remount) and the
// fallback bind.
func TestReadOnlyMounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount")
	}
	for _, tc := range []struct {
		name  string
		mount func(string) error
	}{{"overlay", overlayReadOnly}, {"bind", bindReadOnly}} {
		t.Run(tc.name, func(t *testing.T) {
			vol := t.TempDir()
			dir := filepath.Join(vol, "merged")
			if err := os.MkdirAll(filepath.Join(vol, layout.VolumeReadOnly), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := tc.mount(dir); err != nil {
				t.Skipf("cannot mount here: %v", err)
			}
			defer unix.Unmount(dir, unix.MNT_DETACH)
			if err := os.WriteFile(filepath.Join(dir, "g"), nil, 0o644); err == nil {
				t.Error("writing into a read-only volume: got success, want an error")
			}
			if b, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(b) != "x" {
				t.Errorf("reading the volume: got %q, %v, want \"x\"", b, err)
			}
		})
	}
}
