package boot

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAttachLoop attaches a real squashfs image to a loop device, mounts
// it and reads it back: the same path init takes for a squashfs root.
func TestAttachLoop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop devices and mount)")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("no /dev/loop-control on this machine")
	}
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Skip("mksquashfs not installed (apt-get install squashfs-tools)")
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "hello"), []byte("from the image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "root.squashfs")
	if out, err := exec.Command("mksquashfs", src, img, "-quiet", "-no-progress").CombinedOutput(); err != nil {
		t.Fatalf("mksquashfs: %v: %s", err, out)
	}
	dev, f, err := attachLoop(img)
	if err != nil {
		t.Fatal(err)
	}
	mnt := t.TempDir()
	err = unix.Mount(dev, mnt, "squashfs", unix.MS_RDONLY, "")
	f.Close()
	if err != nil {
		t.Fatalf("mount %s: %v", dev, err)
	}
	defer unix.Unmount(mnt, 0)
	got, err := os.ReadFile(filepath.Join(mnt, "hello"))
	if err != nil || string(got) != "from the image\n" {
		t.Errorf("reading through %s: got %q (%v), want %q", dev, got, err, "from the image\n")
	}
	var st unix.Statfs_t
	if err := unix.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	if st.Flags&unix.ST_RDONLY == 0 {
		t.Error("the image's mount is writable, want read-only")
	}
	// The loop device is read-only too, whatever mounts it.
	info, err := unix.IoctlLoopGetStatus64(int(mustOpen(t, dev).Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if info.Flags&unix.LO_FLAGS_READ_ONLY == 0 || info.Flags&unix.LO_FLAGS_AUTOCLEAR == 0 {
		t.Errorf("loop flags: got %#x, want read-only and autoclear", info.Flags)
	}
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFindRootImages(t *testing.T) {
	touch := func(t *testing.T, path string) {
		t.Helper()
		if err := os.WriteFile(path, nil, 0o400); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		single bool
		parts  []string
		want   []string
	}{
		{"none", false, nil, nil},
		{"parts in stacking order", false, []string{"010.squashfs", "002.squashfs", "000.squashfs", "notes.txt"},
			[]string{"000.squashfs", "002.squashfs", "010.squashfs"}},
		{"one image of the whole root", true, nil, []string{"single"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			top := t.TempDir()
			single, dir := filepath.Join(top, "single"), filepath.Join(top, "parts")
			if tc.single {
				touch(t, single)
			}
			if tc.parts != nil {
				if err := os.Mkdir(dir, 0o700); err != nil {
					t.Fatal(err)
				}
				for _, p := range tc.parts {
					touch(t, filepath.Join(dir, p))
				}
			}
			var got []string
			for _, p := range findRootImages(single, dir) {
				got = append(got, filepath.Base(p))
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLoadInBackground(t *testing.T) {
	bad := errors.New("no such module")
	// Each load waits until every load has started: loads that ran one
	// after the other would never finish.
	var started sync.WaitGroup
	started.Add(2)
	load := func(name, params string) error {
		started.Done()
		started.Wait()
		if name == "overlay" {
			return bad
		}
		return nil
	}
	loaded := loadInBackground(load, []string{"squashfs", "overlay"})
	tests := []struct {
		name string
		want error
	}{
		{"squashfs", nil},
		{"overlay", bad},
		{"overlay", bad}, // a second wait gets the same answer
		{"brd", nil},     // not asked for: nothing to wait for
	}
	for _, tt := range tests {
		if got := loaded(tt.name); !errors.Is(got, tt.want) {
			t.Errorf("loaded(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
