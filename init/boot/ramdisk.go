package boot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Why RAM disks rather than loop devices: a loop device serves each read
// from a kernel worker thread, so every squashfs block a page fault needs
// costs the faulting task two wake-ups across CPUs on top of the block's
// decompression. Under emulation that round trip took 0.8-2.8 ms against
// 0.5 ms for decompressing the 128 KiB block (function_graph on a booted
// system), and the programs' first start is mostly page faults. A brd RAM
// disk copies the block in the reader's own context. The images are
// copied into the disks once and their initramfs files removed, so they
// are held in RAM once, as before.

// ramDiskModule is the kernel's RAM disk driver.
const ramDiskModule = "brd"

// ramDisks are the brd devices the root images are copied to.
type ramDisks struct {
	// size is the capacity of every disk, in bytes.
	size int64
	// next is the number of the next unused disk, count how many there are.
	next, count int
	// devFormat is a disk's device path, by its number.
	devFormat string
}

// ramDiskParams are brd's parameters for images of the given sizes: one
// disk per image, each as large as the largest (brd allocates a page only
// when it is written).
func ramDiskParams(sizes []int64) string {
	var largest int64
	for _, s := range sizes {
		largest = max(largest, s)
	}
	kib := (largest + 1023) / 1024
	kib = (kib + 3) / 4 * 4
	return fmt.Sprintf("rd_nr=%d rd_size=%d", len(sizes), kib)
}

// openRAMDisks loads brd for images and reports the disks it made, as
// sysBlock (/sys/block) lists them.
func openRAMDisks(load func(name, params string) error, sysBlock string, images []string) (*ramDisks, error) {
	sizes := make([]int64, len(images))
	for i, img := range images {
		st, err := os.Stat(img)
		if err != nil {
			return nil, err
		}
		sizes[i] = st.Size()
	}
	if err := load(ramDiskModule, ramDiskParams(sizes)); err != nil {
		return nil, err
	}
	// brd may have been loaded (or built in) with other sizes: take
	// what there is, and let the images that do not fit use loop devices.
	rd := &ramDisks{devFormat: "/dev/ram%d"}
	for {
		sectors, err := os.ReadFile(filepath.Join(sysBlock, fmt.Sprintf("ram%d", rd.count), "size"))
		if err != nil {
			break
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(sectors)), 10, 64)
		if err != nil {
			break
		}
		if rd.count == 0 {
			rd.size = n * 512
		}
		rd.count++
	}
	if rd.count == 0 {
		return nil, errors.New("brd made no RAM disk")
	}
	return rd, nil
}

// reserve hands img the next unused RAM disk and returns the disk's
// path; ok is false when no disk is left or img does not fit. The image is
// not copied yet (copyToDisk): disks are handed out in the images' order,
// and copied in any.
func (rd *ramDisks) reserve(img string) (dev string, ok bool, err error) {
	if rd == nil || rd.next >= rd.count {
		return "", false, nil
	}
	st, err := os.Stat(img)
	if err != nil {
		return "", false, err
	}
	if (st.Size()+511)&^511 > rd.size {
		return "", false, nil
	}
	dev = fmt.Sprintf(rd.devFormat, rd.next)
	rd.next++
	return dev, true, nil
}

// copyToDisk writes file to the start of the block device dev with direct
// I/O, so the data does not also stay in dev's page cache.
func copyToDisk(file, dev string) error {
	src, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("open %s: %w", file, err)
	}
	defer src.Close()
	fd, err := unix.Open(dev, unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dev, err)
	}
	defer unix.Close(fd)
	// Direct I/O needs an aligned buffer: an anonymous mapping is.
	const chunk = 1 << 20
	buf, err := unix.Mmap(-1, 0, chunk, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return fmt.Errorf("buffer for %s: %w", dev, err)
	}
	defer unix.Munmap(buf)
	var off int64
	for {
		n, rerr := io.ReadFull(src, buf)
		if n > 0 {
			// The last piece is padded to whole sectors.
			m := (n + 511) &^ 511
			clear(buf[n:m])
			if _, err := unix.Pwrite(fd, buf[:m], off); err != nil {
				return fmt.Errorf("copy %s to %s: %w", file, dev, err)
			}
			off += int64(m)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("read %s: %w", file, rerr)
		}
	}
}
