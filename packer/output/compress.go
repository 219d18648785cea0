package output

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"
	"github.com/pierrec/lz4/v4"
)

// Compression names how an initrd archive is compressed. Every choice here
// is one the kernel unpacks itself (checked on Debian's 6.1 cloud kernel).
type Compression string

// The supported compressions. Zstd is the default: the kernel unpacks it
// about as fast as lz4 and several times faster than gzip, which matters
// most under emulation, and it is the smallest of the three (measurements
// in docs/formats.md). Gzip is what LinuxKit writes.
const (
	Gzip Compression = "gzip"
	LZ4  Compression = "lz4"
	Zstd Compression = "zstd"
	None Compression = "none"
)

// Default is the compression of an initrd when none is asked for.
const Default = Zstd

// Compressions lists the accepted names, for flags and errors.
var Compressions = []Compression{Gzip, LZ4, Zstd, None}

// ParseCompression checks a user-given name; empty means Default.
func ParseCompression(s string) (Compression, error) {
	if s == "" {
		return Default, nil
	}
	for _, c := range Compressions {
		if string(c) == s {
			return c, nil
		}
	}
	names := make([]string, len(Compressions))
	for i, c := range Compressions {
		names[i] = string(c)
	}
	return "", fmt.Errorf("unknown initrd compression %q: use one of %s", s, strings.Join(names, ", "))
}

// compressor returns a writer that compresses into w. Every setting that
// could change the output between runs (names, times, concurrency) is
// fixed, so the same input always gives the same bytes.
func compressor(w io.Writer, c Compression) (io.WriteCloser, error) {
	return compressorLevel(w, c, false)
}

// compressorLevel is compressor, with zstd at its best level when hard:
// for archives written once and read at every boot, where its 3.5 times
// the CPU of the default level (about 0.25 s more for a 3 MB /init) buys
// 5% less (0.07 MB of it).
func compressorLevel(w io.Writer, c Compression, hard bool) (io.WriteCloser, error) {
	if c == "" {
		c = Default
	}
	switch c {
	case Gzip:
		return newGzip(w, gzipBlocks())
	case LZ4:
		// The kernel reads only lz4's legacy frame format.
		zw := lz4.NewWriter(w)
		if err := zw.Apply(lz4.LegacyOption(true), lz4.CompressionLevelOption(lz4.Level9)); err != nil {
			return nil, err
		}
		return zw, nil
	case Zstd:
		// The "better" level (about zstd -7) is 7% smaller than the
		// default level and still compresses in less than half gzip's CPU
		// time; the kernel unpacks both equally fast. The window stays at
		// the level's 8 MiB: the kernel allocates the window to unpack,
		// and with one multi-call binary there is little repetition
		// further apart to find (a 32 MiB window gains 1.5%).
		level := zstd.SpeedBetterCompression
		if hard {
			level = zstd.SpeedBestCompression
		}
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true),
			zstd.WithEncoderLevel(level))
	case None:
		return nopCloser{w}, nil
	}
	return nil, fmt.Errorf("unknown compression %q", c)
}

// gzipBlock is pgzip's block size: part of the output format, so fixed.
const gzipBlock = 1 << 20

// newGzip is a parallel gzip writer. pgzip cuts the input into blocks of
// a fixed size whatever the sizes of the writes, and each block's bytes
// depend only on its content and the previous block's tail: with the block
// size fixed, the number of blocks in flight changes the speed, never the
// output (TestGzipIndependentOfConcurrency).
func newGzip(w io.Writer, blocks int) (io.WriteCloser, error) {
	gz, err := pgzip.NewWriterLevel(w, pgzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if err := gz.SetConcurrency(gzipBlock, blocks); err != nil {
		return nil, err
	}
	gz.Header = pgzip.Header{OS: 255}
	return gz, nil
}

// gzipBlocks is how many blocks pgzip compresses at once.
func gzipBlocks() int { return max(2, 2*runtime.NumCPU()) }

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
