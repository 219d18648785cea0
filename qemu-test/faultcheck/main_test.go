package main

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFillUntilFull fills a 40 MiB tmpfs, as the filler fills /var.
func TestFillUntilFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=40m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	defer syscall.Unmount(dir, 0)
	n, err := fillUntilFull(filepath.Join(dir, "faults", "fill"))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("got error %v, want ENOSPC", err)
	}
	if n < 39<<20 || n > 40<<20 {
		t.Errorf("wrote %d bytes, want the whole 40 MiB but for part of a block", n)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Bavail != 0 {
		t.Errorf("%d blocks still free, want 0", st.Bavail)
	}
}
