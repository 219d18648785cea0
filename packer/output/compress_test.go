package output

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

func decompress(t *testing.T, c Compression, b []byte) io.Reader {
	t.Helper()
	switch c {
	case Gzip:
		r, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return r
	case LZ4:
		return lz4.NewReader(bytes.NewReader(b))
	case Zstd:
		r, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	return bytes.NewReader(b)
}

func TestCompressions(t *testing.T) {
	big := strings.Repeat("keel ", 400000) // spans several lz4 legacy blocks' worth of input
	for _, c := range Compressions {
		t.Run(string(c), func(t *testing.T) {
			write := func() []byte {
				var buf bytes.Buffer
				w, err := NewCPIOCompressed(&buf, c)
				if err != nil {
					t.Fatal(err)
				}
				h := &tar.Header{Name: "big", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(big))}
				if err := w.WriteEntry(h, strings.NewReader(big)); err != nil {
					t.Fatal(err)
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				return buf.Bytes()
			}
			a, b := write(), write()
			if !bytes.Equal(a, b) {
				t.Fatalf("two %s archives of the same entries differ", c)
			}
			if c == LZ4 && !bytes.HasPrefix(a, []byte{0x02, 0x21, 0x4c, 0x18}) {
				t.Errorf("lz4 output starts %x, want the legacy frame magic 02214c18 (the only lz4 the kernel reads)", a[:4])
			}
			r := cpio.NewReader(decompress(t, c, a))
			h, err := r.Next()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(r)
			if h.Name != "big" || string(got) != big {
				t.Errorf("got %q with %d bytes, want big with %d", h.Name, len(got), len(big))
			}
		})
	}
}

func TestParseCompression(t *testing.T) {
	tests := []struct {
		in      string
		want    Compression
		wantErr bool
	}{
		{"", Zstd, false}, {"gzip", Gzip, false}, {"lz4", LZ4, false},
		{"zstd", Zstd, false}, {"none", None, false}, {"xz", "", true},
	}
	for _, tt := range tests {
		got, err := ParseCompression(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseCompression(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestGzipIndependentOfConcurrency(t *testing.T) {
	// Several blocks of text that compresses, but not to nothing.
	var in bytes.Buffer
	x := uint32(1)
	for in.Len() < 5*gzipBlock+12345 {
		x = x*1664525 + 1013904223
		in.WriteString(strings.Repeat(string(rune('a'+x>>28)), int(x>>24&7)+1))
	}
	tests := []struct {
		blocks, chunk int
	}{
		{2, 1 << 20}, {2, 4096}, {16, 777}, {3, 1 << 22},
	}
	var want []byte
	for _, tt := range tests {
		var buf bytes.Buffer
		w, err := newGzip(&buf, tt.blocks)
		if err != nil {
			t.Fatal(err)
		}
		for b := in.Bytes(); len(b) > 0; {
			n := min(tt.chunk, len(b))
			if _, err := w.Write(b[:n]); err != nil {
				t.Fatal(err)
			}
			b = b[n:]
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = buf.Bytes()
			got, err := io.ReadAll(decompress(t, Gzip, want))
			if err != nil || !bytes.Equal(got, in.Bytes()) {
				t.Fatalf("round trip: got %d bytes (err %v), want %d", len(got), err, in.Len())
			}
			continue
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("blocks %d, writes of %d: got %d bytes differing from the first run's %d", tt.blocks, tt.chunk, buf.Len(), len(want))
		}
	}
}
