package qemutest

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/internal/blockdev"
	"github.com/keel-os/keel/packer/run"
)

// emptyDisk creates a sparse raw disk of size in a test directory.
func emptyDisk(t *testing.T, size string) run.Disk {
	t.Helper()
	d := run.Disk{Path: filepath.Join(t.TempDir(), "disk.img"), Size: size, Format: "raw"}
	if err := d.Ensure(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d
}

// bootExpect boots prefix with disk attached, waits for every pattern in
// order, then for the machine to power itself off.
func bootExpect(t *testing.T, prefix string, disk run.Disk, patterns ...string) *Console {
	t.Helper()
	ctx, c := bootGuest(t, 6*time.Minute, run.QEMU{Prefix: prefix, Disks: []run.Disk{disk}})
	for _, p := range patterns {
		i, at, err := c.Expect(ctx, 0, regexp.MustCompile(p))
		if err != nil {
			t.Fatalf("want a console line matching %q: %v\nlast console lines:\n%s", p, err, c.Tail(80))
		}
		t.Logf("%6.1fs %s", at.Seconds(), strings.Join(c.Lines(i, i+1), ""))
	}
	waitExit(ctx, t, c)
	return c
}

// TestPersistentDisk boots examples/persistent-disk.yml twice on the same
// empty disk: the first boot formats it and the bootcount service counts
// one boot; the second leaves the filesystem alone and counts two, so the
// data written by the first boot survived.
func TestPersistentDisk(t *testing.T) {
	require(t)
	prefix := buildImage(t, "examples/persistent-disk.yml", "qemu-test/testdata/disk-check.yml")
	disk := emptyDisk(t, "256M")

	bootExpect(t, prefix, disk,
		`format: making an ext4 filesystem on /dev/vda1`,
		`mount: mounted /dev/vda1 on /var/external`,
		`bootcount: count=1$`,
		`KEEL-CHECK-OK`)
	c := bootExpect(t, prefix, disk,
		`format: /dev/vda holds .*vda1 holds an ext4 filesystem labelled "keel-data": leaving it alone`,
		`mount: mounted /dev/vda1 on /var/external`,
		`bootcount: count=2$`,
		`KEEL-CHECK-OK`)
	if _, _, err := c.Expect(context.Background(), 0, regexp.MustCompile(`format: making`)); err == nil {
		t.Error("the second boot formatted the disk again")
	}

	// The host sees what the guest made: an ext4 filesystem in the
	// partition that starts at 1 MiB.
	f, err := os.Open(disk.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ext, err := blockdev.ReadExt(io.NewSectionReader(f, 1<<20, 255<<20))
	if err != nil || ext.Type != "ext4" || ext.Label != "keel-data" {
		t.Errorf("the disk's first partition: got %+v, %v; want ext4 labelled keel-data", ext, err)
	}
}

// TestSwapDisk boots examples/swap.yml on an empty disk and checks that
// the kernel uses the 256 MiB swap file made on it.
func TestSwapDisk(t *testing.T) {
	require(t)
	prefix := buildImage(t, "examples/swap.yml", "qemu-test/testdata/disk-swap-check.yml")
	// 1G, not less: mke2fs gives a filesystem under 512 MiB 1 KiB blocks,
	// and the kernel skips swap-file pages that straddle unaligned extents.
	disk := emptyDisk(t, "1G")
	// /proc/swaps counts KiB and leaves out the header page: 256 MiB is
	// 65536 pages of 4 KiB, 65535 of them usable. It names the file
	// relative to the mount it was opened through, which belonged to the
	// swap container's mount namespace, gone since: hence "/swap".
	bootExpect(t, prefix, disk,
		`mount: mounted /dev/vda1 on /var/external`,
		`swap: swap on /var/external/swap \(256 MiB\)`,
		`SWAPCHECK (/var/external)?/swap\s+file\s+262140\s`,
		`SWAPCHECK SwapTotal:\s+262140 kB`,
		`SWAPCHECK-END`)
}
