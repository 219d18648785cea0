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
		{"", Gzip, false}, {"gzip", Gzip, false}, {"lz4", LZ4, false},
		{"zstd", Zstd, false}, {"none", None, false}, {"xz", "", true},
	}
	for _, tt := range tests {
		got, err := ParseCompression(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseCompression(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
