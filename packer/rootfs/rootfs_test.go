package rootfs

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"
)

// recorder does not store hard links: it gets symlinks instead.
type recorder struct{ got []string }

func (*recorder) HardLinks() bool { return false }

func (r *recorder) WriteEntry(h *tar.Header, body io.Reader) error {
	s := h.Name
	switch h.Typeflag {
	case tar.TypeDir:
		s += "/"
	case tar.TypeSymlink:
		s += " -> " + h.Linkname
	case tar.TypeReg:
		b, _ := io.ReadAll(body)
		s += "=" + string(b)
	}
	r.got = append(r.got, s)
	return nil
}

func tarOf(t *testing.T, hs ...tar.Header) Opener {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		h := h
		body := ""
		if h.Typeflag == tar.TypeReg {
			body = "x"
			h.Size = 1
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, body)
	}
	tw.Close()
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil }
}

func TestWrite(t *testing.T) {
	sys := &System{
		Dirs: []Entry{{Hdr: tar.Header{Name: "proc", Typeflag: tar.TypeDir}}},
		Layers: []Layer{
			{What: "init", Open: tarOf(t,
				tar.Header{Name: "./", Typeflag: tar.TypeDir},
				tar.Header{Name: "usr/bin/svcd", Typeflag: tar.TypeReg})},
			{What: "svc", Prefix: "containers/services/a/rootfs", Open: tarOf(t,
				tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg},
				tar.Header{Name: "bin/sh", Typeflag: tar.TypeLink, Linkname: "bin/busybox"})},
		},
		Files: []Entry{{Hdr: tar.Header{Name: "/etc/hostname", Typeflag: tar.TypeReg}, Body: []byte("k")}},
	}
	var r recorder
	if err := Write(sys, &r); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"proc/",
		"usr/", "usr/bin/", "usr/bin/svcd=x",
		"containers/", "containers/services/", "containers/services/a/", "containers/services/a/rootfs/",
		"containers/services/a/rootfs/bin/", "containers/services/a/rootfs/bin/busybox=x",
		"containers/services/a/rootfs/bin/sh -> /bin/busybox",
		"etc/", "etc/hostname=k",
	}
	if strings.Join(r.got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(r.got, "\n"), strings.Join(want, "\n"))
	}
}

func TestWriteRefusesEscapes(t *testing.T) {
	tests := []tar.Header{
		{Name: "../etc/passwd", Typeflag: tar.TypeReg},
		{Name: "a/../../b", Typeflag: tar.TypeReg},
		{Name: "ok", Typeflag: tar.TypeLink, Linkname: "../../x"},
	}
	for _, h := range tests {
		sys := &System{Layers: []Layer{{What: "bad", Prefix: "containers/services/a/rootfs", Open: tarOf(t, h)}}}
		if err := Write(sys, &recorder{}); err == nil {
			t.Errorf("entry %q -> %q: got nil error, want an escape error", h.Name, h.Linkname)
		}
	}
}
