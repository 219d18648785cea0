package boot

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRAMDiskParams(t *testing.T) {
	for _, tc := range []struct {
		sizes []int64
		want  string
	}{
		{[]int64{4096}, "rd_nr=1 rd_size=4"},
		// The largest image sets every disk's size, in whole 4 KiB pages.
		{[]int64{2359296, 12505088, 4096}, "rd_nr=3 rd_size=12212"},
		{[]int64{1}, "rd_nr=1 rd_size=4"},
		{[]int64{5000, 100}, "rd_nr=2 rd_size=8"},
	} {
		if got := ramDiskParams(tc.sizes); got != tc.want {
			t.Errorf("ramDiskParams(%v): got %q, want %q", tc.sizes, got, tc.want)
		}
	}
}

// writeFile writes n bytes of a pattern to a new file in dir.
func writeFile(t *testing.T, dir, name string, n int) (string, []byte) {
	t.Helper()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(i*7 + i/251)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, data
}

// directIO skips the test when dir's filesystem refuses O_DIRECT.
func directIO(t *testing.T, dir string) {
	t.Helper()
	p := filepath.Join(dir, "probe")
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_DIRECT, 0o644)
	if errors.Is(err, unix.EINVAL) {
		t.Skipf("%s has no direct I/O", dir)
	}
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	os.Remove(p)
}

func TestCopyToDisk(t *testing.T) {
	dir := t.TempDir()
	directIO(t, dir)
	// Over one copy chunk, and not a whole number of sectors.
	for _, n := range []int{0, 512, 1000, 1<<20 + 4096 + 3} {
		img, data := writeFile(t, dir, fmt.Sprintf("img%d", n), n)
		disk := filepath.Join(dir, fmt.Sprintf("disk%d", n))
		if err := os.WriteFile(disk, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := copyToDisk(img, disk); err != nil {
			t.Fatalf("copyToDisk(%d bytes): %v", n, err)
		}
		got, err := os.ReadFile(disk)
		if err != nil {
			t.Fatal(err)
		}
		padded := (n + 511) &^ 511
		if len(got) != padded {
			t.Fatalf("%d bytes copied: the disk holds %d bytes, want %d (whole sectors)", n, len(got), padded)
		}
		if !bytes.Equal(got[:n], data) {
			t.Errorf("%d bytes copied: the disk's data differs from the image's", n)
		}
		if !bytes.Equal(got[n:], make([]byte, padded-n)) {
			t.Errorf("%d bytes copied: the padding is not zeros", n)
		}
	}
}

func TestCopyToDiskMissingImage(t *testing.T) {
	dir := t.TempDir()
	err := copyToDisk(filepath.Join(dir, "absent"), filepath.Join(dir, "disk"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("got %v, want an error that the image does not exist", err)
	}
}

// fakeSysBlock makes sysfs entries for n disks of size bytes under a temp
// dir and returns it.
func fakeSysBlock(t *testing.T, n int, size int64) string {
	t.Helper()
	sys := t.TempDir()
	for i := range n {
		d := filepath.Join(sys, fmt.Sprintf("ram%d", i))
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "size"), []byte(fmt.Sprintf("%d\n", size/512)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return sys
}

func TestOpenRAMDisks(t *testing.T) {
	dir := t.TempDir()
	a, _ := writeFile(t, dir, "a", 3000)
	b, _ := writeFile(t, dir, "b", 9000)
	var loaded []string
	load := func(name, params string) error {
		loaded = append(loaded, name+" "+params)
		return nil
	}
	rd, err := openRAMDisks(load, fakeSysBlock(t, 2, 12288), []string{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"brd rd_nr=2 rd_size=12"}; fmt.Sprint(loaded) != fmt.Sprint(want) {
		t.Errorf("loaded %q, want %q", loaded, want)
	}
	if rd.count != 2 || rd.size != 12288 {
		t.Errorf("got %d disks of %d bytes, want 2 of 12288", rd.count, rd.size)
	}

	// No disk in sysfs, or no brd at all: an error, and loop devices.
	if _, err := openRAMDisks(load, t.TempDir(), []string{a}); err == nil {
		t.Error("no RAM disk in sysfs: got no error")
	}
	noBrd := func(string, string) error { return errors.New("no brd here") }
	if _, err := openRAMDisks(noBrd, fakeSysBlock(t, 1, 4096), []string{a}); err == nil {
		t.Error("brd failed to load: got no error")
	}
}

func TestRAMDisksReserve(t *testing.T) {
	dir := t.TempDir()
	small, _ := writeFile(t, dir, "small", 1500)
	big, _ := writeFile(t, dir, "big", 5000)
	rd := &ramDisks{size: 4096, count: 2, devFormat: filepath.Join(dir, "disk%d")}

	// Too large for the disks: left for a loop device, no disk used.
	if dev, ok, err := rd.reserve(big); ok || err != nil {
		t.Errorf("reserve(5000 bytes) on 4096-byte disks: got %q, %v, %v, want not reserved", dev, ok, err)
	}
	if _, _, err := rd.reserve(filepath.Join(dir, "missing")); err == nil {
		t.Error("reserve of a missing image: got no error")
	}
	for i := range 2 {
		dev, ok, err := rd.reserve(small)
		if want := filepath.Join(dir, fmt.Sprintf("disk%d", i)); dev != want || !ok || err != nil {
			t.Fatalf("reserve #%d: got %q, %v, %v, want %q", i, dev, ok, err, want)
		}
	}
	if dev, ok, err := rd.reserve(small); ok || err != nil {
		t.Errorf("reserve with every disk used: got %q, %v, %v, want not reserved", dev, ok, err)
	}
	// Without brd there is nothing to reserve.
	var none *ramDisks
	if _, ok, err := none.reserve(small); ok || err != nil {
		t.Errorf("reserve without RAM disks: got %v, %v, want not reserved", ok, err)
	}
}
