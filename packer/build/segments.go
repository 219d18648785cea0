package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/output"
	"github.com/keel-os/keel/packer/progress"
	"github.com/keel-os/keel/packer/rootfs"

	"github.com/keel-os/keel/internal/atomicfile"
)

// segmentFormat is part of every segment's cache key: change it whenever
// the bytes a segment holds for the same inputs change (cpio writer,
// rootfs stream, base directories, compression settings).
const segmentFormat = "keel initrd segment 3" // 2: zstd at its "better" level; 3: archive parts at zstd's best

// part is one self-contained piece of the image: the initrd holds it as
// its own compressed cpio archive (with its own TRAILER, after which the
// kernel forgets the hard-link inode numbers, so every segment numbers
// inodes from 1), and the tar output streams it after the previous parts.
type part struct {
	// What names the part in errors and reports ("service getty").
	What string
	// inputs are everything the part's bytes depend on besides the
	// compression and segmentFormat; nil means the part is not cached
	// (the spec's files section: cheap, and read from the host).
	inputs []string
	sys    *rootfs.System
	// archive marks a part rebuilt rarely (the kernel modules, the init
	// images, the boot files), whose squashfs image or cpio segment is
	// compressed as hard as pays.
	archive bool
	// programs marks the archive of programs (the init images), which
	// processes page in at random: its squashfs image gets smaller blocks.
	programs bool
}

// Segment reports one initrd segment of a build.
type Segment struct {
	What string
	// Size is the compressed size in bytes.
	Size int64
	// Reused says the segment came from the cache.
	Reused bool
}

// encoding is one way of turning a part into a file of the image cache:
// a compressed cpio segment of the initrd, or a squashfs image.
type encoding struct {
	// format is in every key of the encoding: change it whenever the bytes
	// written for the same inputs change.
	format string
	// write makes p's file at final (atomically) and returns its size,
	// reporting bytes written through count.
	write func(final string, p part, c output.Compression, count func(int64)) (int64, error)
}

// cpioSegments encode parts as the initrd's compressed cpio segments.
var cpioSegments = encoding{format: segmentFormat, write: writeSegment}

// key is the cache key of p's file under encoding e and compression c.
func (e encoding) key(p part, c output.Compression) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", e.format, c)
	for _, in := range p.inputs {
		// Length-prefixed, so no two input lists hash alike.
		fmt.Fprintf(h, "%d:%s\n", len(in), in)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// segments makes sure every cached part has its file in dir, encoded with
// enc, building the missing ones concurrently, and returns the path of
// each part's file ("" for uncached parts) and a report.
func segments(dir string, parts []part, enc encoding, c output.Compression, rep progress.Reporter) ([]string, []Segment, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("creating segment cache: %w", err)
	}
	paths := make([]string, len(parts))
	report := make([]Segment, len(parts))
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.NumCPU())
	for i, p := range parts {
		report[i].What = p.What
		if p.inputs == nil {
			continue
		}
		paths[i] = filepath.Join(dir, enc.key(p, c))
		if st, err := os.Stat(paths[i]); err == nil {
			report[i].Size, report[i].Reused = st.Size(), true
			// Touch it, so `keel cache clean` can keep recent segments.
			now := time.Now()
			_ = os.Chtimes(paths[i], now, now)
			rep.Step(progress.Step{Kind: progress.Cached, Name: p.What, Size: report[i].Size})
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			task := rep.Start(progress.Unpack, p.What, 0)
			report[i].Size, errs[i] = enc.write(paths[i], p, c, task.Add)
			task.Done(errs[i])
			if errs[i] == nil {
				rep.Step(progress.Step{Kind: progress.Unpack, Name: p.What, Size: report[i].Size})
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", parts[i].What, err)
		}
	}
	return paths, report, nil
}

// writeSegment builds p's compressed archive into a temporary file next to
// final and renames it into place, so an interrupted build never leaves a
// partial segment under a valid key.
func writeSegment(final string, p part, c output.Compression, count func(int64)) (int64, error) {
	var size int64
	// 0o600: the mode segments have always had (os.CreateTemp's).
	err := atomicfile.Write(final, 0o600, func(w io.Writer) error {
		return encodePart(&countingWriter{w: w, count: func(n int64) {
			size += n
			count(n)
		}}, p, c)
	})
	if err != nil {
		return 0, err
	}
	return size, nil
}

// encodePart writes p as one compressed cpio archive.
func encodePart(w io.Writer, p part, c output.Compression) error {
	newCPIO := output.NewCPIOCompressed
	if p.archive {
		newCPIO = output.NewCPIOArchive
	}
	cw, err := newCPIO(w, c)
	if err != nil {
		return err
	}
	if err := rootfs.Write(p.sys, cw); err != nil {
		return err
	}
	return cw.Close()
}

// countingWriter reports the bytes written through it.
type countingWriter struct {
	w     io.Writer
	count func(int64)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.count(int64(n))
	return n, err
}

// flattener gives each image's flattened filesystem to every part that
// uses it, decompressing its layers once: an image used by several
// containers is spooled to a temporary file on first use and re-read from
// there.
type flattener struct {
	uses map[v1.Hash]int
	mu   sync.Mutex
	tars map[v1.Hash]*sharedTar
}

type sharedTar struct {
	once sync.Once
	f    *os.File
	size int64
	err  error
}

func newFlattener() *flattener {
	return &flattener{uses: map[v1.Hash]int{}, tars: map[v1.Hash]*sharedTar{}}
}

// count records one more use of img; call it for every use before opening.
func (fl *flattener) count(img v1.Image) {
	if d, err := img.Digest(); err == nil {
		fl.uses[d]++
	}
}

func (fl *flattener) opener(img v1.Image) rootfs.Opener {
	return func() (io.ReadCloser, error) {
		d, err := img.Digest()
		if err != nil || fl.uses[d] < 2 {
			return image.Flatten(img), nil
		}
		fl.mu.Lock()
		st := fl.tars[d]
		if st == nil {
			st = &sharedTar{}
			fl.tars[d] = st
		}
		fl.mu.Unlock()
		st.once.Do(func() {
			f, err := os.CreateTemp("", "keel-image-*")
			if err != nil {
				st.err = err
				return
			}
			os.Remove(f.Name()) // the descriptor keeps the data
			rc := image.Flatten(img)
			st.size, err = io.Copy(f, rc)
			rc.Close()
			st.f, st.err = f, err
		})
		if st.err != nil {
			return nil, fmt.Errorf("unpacking image %s: %w", d, st.err)
		}
		// A section reader per use: the file is shared, read concurrently.
		return io.NopCloser(io.NewSectionReader(st.f, 0, st.size)), nil
	}
}

// close releases the spooled images.
func (fl *flattener) close() {
	for _, st := range fl.tars {
		if st.f != nil {
			st.f.Close()
		}
	}
}
