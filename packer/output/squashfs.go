package output

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// Squashfs collects tar-described entries and turns them into a squashfs
// image with mksquashfs (squashfs-tools), which reads the tar stream and
// takes every mode, owner and link from it, not from the build machine. It
// implements rootfs.Writer and keeps hard links.
//
// mksquashfs keeps the first of two entries with the same name, while a
// Keel image, like the initrd the kernel unpacks, lets a later entry replace
// an earlier one (the spec's files over an image's). So the entries are
// spooled to a temporary tar first, and only each name's last entry is
// passed on.
type Squashfs struct {
	// Archive marks an image that is rebuilt rarely and cached (the kernel
	// modules, the init images): with zstd it is compressed as hard as
	// pays (squashfsComp).
	Archive bool
	// Programs marks an archive of programs (the init images), whose pages
	// processes fault in at random, as opposed to files read whole (the
	// kernel modules): it gets smaller blocks (programBlock).
	Programs bool

	spool *os.File
	tw    *Tar
	n     int
	// last maps a name to the index of its last entry.
	last map[string]int
	// links maps a hard link's index to the index of the entry it named
	// when it was written.
	links map[int]int
}

// SquashfsTool is the program that writes squashfs images.
const SquashfsTool = "mksquashfs"

// NewSquashfs starts a squashfs image, spooling its entries in dir ("" is
// the system's temporary directory). Close releases the spool.
func NewSquashfs(dir string) (*Squashfs, error) {
	f, err := os.CreateTemp(dir, "keel-squashfs-*.tar")
	if err != nil {
		return nil, fmt.Errorf("creating squashfs spool: %w", err)
	}
	os.Remove(f.Name()) // the descriptor keeps the data
	return &Squashfs{spool: f, tw: NewTar(f), last: map[string]int{}, links: map[int]int{}}, nil
}

// HardLinks reports that squashfs stores hard links.
func (s *Squashfs) HardLinks() bool { return true }

// WriteEntry adds one entry. Only regular files read body.
func (s *Squashfs) WriteEntry(h *tar.Header, body io.Reader) error {
	name := strings.Trim(h.Name, "/")
	if name == "" {
		return nil
	}
	if h.Typeflag == tar.TypeLink {
		target, ok := s.last[strings.Trim(h.Linkname, "/")]
		if !ok {
			return fmt.Errorf("hard link %s: target %s was not written before it", name, h.Linkname)
		}
		s.links[s.n] = target
	}
	if err := s.tw.WriteEntry(h, body); err != nil {
		return err
	}
	s.last[name] = s.n
	s.n++
	return nil
}

// Write finishes the spooled tar and writes the squashfs image to dst (a
// new file mksquashfs creates), compressed with c.
func (s *Squashfs) Write(ctx context.Context, dst string, c Compression) error {
	if err := s.tw.Close(); err != nil {
		return err
	}
	tool, err := exec.LookPath(SquashfsTool)
	if err != nil {
		return fmt.Errorf("a squashfs root needs %s: install squashfs-tools (apt-get install squashfs-tools, or scripts/ensure-deps.sh)", SquashfsTool)
	}
	// Every setting that could differ between two builds is fixed: times
	// (the tar's are already 0), the root directory, no extended
	// attributes; mksquashfs is reproducible by default even when it
	// compresses in parallel.
	size, err := s.spool.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("sizing squashfs spool: %w", err)
	}
	if _, err := s.spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewinding squashfs spool: %w", err)
	}
	args := append([]string{"-", dst, "-tar", "-noappend", "-quiet", "-no-progress"}, squashfsComp(c, s.Archive, s.Programs, size)...)
	args = append(args, "-no-xattrs", "-all-time", "0", "-mkfs-time", "0",
		"-root-mode", "755", "-root-uid", "0", "-root-gid", "0", "-exit-on-error")
	cmd := exec.CommandContext(ctx, tool, args...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", tool, err)
	}
	ferr := s.filter(in)
	in.Close()
	werr := cmd.Wait()
	if ferr != nil {
		// mksquashfs failed too, only because its input stopped short.
		return ferr
	}
	if werr != nil {
		return fmt.Errorf("%s failed: %w: %s", tool, werr, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// filter copies the spooled tar to w with only each name's last entry.
func (s *Squashfs) filter(w io.Writer) error {
	tr := tar.NewReader(s.spool)
	tw := tar.NewWriter(w)
	for i := 0; ; i++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading squashfs spool: %w", err)
		}
		name := strings.Trim(h.Name, "/")
		if s.last[name] != i {
			continue // replaced by a later entry
		}
		if t, ok := s.links[i]; ok && s.last[strings.Trim(h.Linkname, "/")] != t {
			return fmt.Errorf("hard link %s names %s, which a later part of the image replaces: remove one of the two", name, h.Linkname)
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("writing %s to %s: %w", name, SquashfsTool, err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("writing %s to %s: %w", name, SquashfsTool, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing to %s: %w", SquashfsTool, err)
	}
	return nil
}

// archiveBlock is the block size of archive images read whole (the kernel
// modules). Larger blocks compress better, but a page fault on a file
// decompresses its whole block, and every mount keeps four blocks of
// cache (three fragments and a read block) for as long as it is mounted.
const archiveBlock = "256K"

// programBlock is the block size of an archive of programs (the init
// images): their pages are faulted in at random, so each fault costs a
// block of decompression and, where memory is short, a block of page
// cache that pushes out pages still in use. Measured under TCG with the
// minimal example at -m 128 (one CPU, loop read-ahead off): 256 KiB
// blocks brought every service up after 61 s, 128 KiB after 28 s, 64 KiB
// after 25 s and 32 KiB after 21 s, for 0.25, 0.60 and 0.98 MB more
// initrd than 256 KiB; with memory to spare the block size did not change
// the boot.
const programBlock = "128K"

// smallPart is the input size (of the spooled tar) under which an image
// that is not an archive gets smallBlock-sized blocks. Every mounted
// squashfs keeps, until it is unmounted, a fragment cache of three blocks,
// a read cache of a block per decompressor and a decompressor window of
// about a block: some 0.9 MB per mount with mksquashfs's 128 KiB, for
// images (an onboot step's, a small service's, the spec's files) whose
// whole content may be less. With 32 KiB blocks the minimal example (three
// such images and its files) had 3.1 MB more MemAvailable at --mem 160,
// for 86 KB more initrd (measured under TCG, one CPU).
const (
	smallPart  = 8 << 20
	smallBlock = "32K"
)

// largeArchive is the input size (of the spooled tar) above which an
// archive image is compressed at a lower zstd level (squashfsComp).
const largeArchive = 128 << 20

// squashfsComp maps an initrd compression to mksquashfs's options for the
// same algorithm; every one is built into Debian's cloud kernel
// (SQUASHFS_ZLIB, LZ4, ZSTD = y). Levels are mid-range for the images a
// rebuild makes (a service's: mksquashfs's own defaults, gzip 9 and zstd
// 15, cost 5-10 times the CPU for 1-8% smaller images, measured on
// examples/minimal.yml, docs/formats.md), and zstd's highest but one for
// an archive image (the kernel modules, the init images), which changes
// rarely and is cached: about 2.5 MB less in the minimal example's initrd
// for 10-15 s of CPU, once. An archive larger than largeArchive (all of a
// kernel's modules, as a bare-metal image carries) gets level 15: on
// Debian's generic kernel's 391 MB of modules, level 19 took 131 s of CPU
// for 81.8 MB and level 15 58 s for 82.9 MB. zstd unpacks as fast from
// every level. None still compresses: an uncompressed root image would
// defeat its purpose. A small image that is not an archive gets small
// blocks (smallPart) and, with zstd, level 15: in 32 KiB blocks it is 5%
// smaller than level 6 for about three times the CPU, which on a small
// image is a tenth of a second (the minimal example's three containers:
// 3.66 → 3.47 MB, 0.13 → 0.45 s on two cores).
func squashfsComp(c Compression, archive, programs bool, size int64) []string {
	opts := squashfsCodec(c, archive, programs, size)
	if !archive && size < smallPart {
		opts = append(opts, "-b", smallBlock)
	}
	return opts
}

// squashfsCodec is squashfsComp's choice of compressor and level (and an
// archive's block size).
func squashfsCodec(c Compression, archive, programs bool, size int64) []string {
	block := archiveBlock
	if programs {
		block = programBlock
	}
	switch c {
	case LZ4:
		return []string{"-comp", "lz4"}
	case Zstd:
		switch {
		case archive && size > largeArchive:
			return []string{"-comp", "zstd", "-Xcompression-level", "15", "-b", block}
		case archive:
			return []string{"-comp", "zstd", "-Xcompression-level", "19", "-b", block}
		}
		if size < smallPart {
			return []string{"-comp", "zstd", "-Xcompression-level", "15"}
		}
		return []string{"-comp", "zstd", "-Xcompression-level", "6"}
	default:
		return []string{"-comp", "gzip", "-Xcompression-level", "6"}
	}
}

// Close releases the spool.
func (s *Squashfs) Close() error { return s.spool.Close() }
