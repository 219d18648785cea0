package rootfs

import (
	"archive/tar"
	"io"
	"strings"
	"testing"
)

// linkRecorder is a recorder that accepts hard links.
type linkRecorder struct{ recorder }

func (*linkRecorder) HardLinks() bool { return true }

func (r *linkRecorder) WriteEntry(h *tar.Header, body io.Reader) error {
	if n := h.PAXRecords[PAXLinkCount]; n != "" && h.Typeflag == tar.TypeReg {
		b, _ := io.ReadAll(body)
		r.got = append(r.got, h.Name+"="+string(b)+" nlink="+n)
		return nil
	}
	if h.Typeflag == tar.TypeLink {
		r.got = append(r.got, h.Name+" => "+h.Linkname+" nlink="+h.PAXRecords[PAXLinkCount])
		return nil
	}
	return r.recorder.WriteEntry(h, body)
}

func TestHardLinks(t *testing.T) {
	const pre = "containers/services/a/rootfs"
	sys := &System{Layers: []Layer{{What: "svc", Prefix: pre, Open: tarOf(t,
		// A flattened image may list a link before its target.
		tar.Header{Name: "sbin/early", Typeflag: tar.TypeLink, Linkname: "bin/busybox"},
		tar.Header{Name: "bin/busybox", Typeflag: tar.TypeReg},
		tar.Header{Name: "bin/sh", Typeflag: tar.TypeLink, Linkname: "/bin/busybox"},
		tar.Header{Name: "bin/ash", Typeflag: tar.TypeLink, Linkname: "bin/sh"}, // a link to a link
		tar.Header{Name: "bin/other", Typeflag: tar.TypeReg},
	)}}}
	var r linkRecorder
	if err := Write(sys, &r); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"containers/", "containers/services/", "containers/services/a/", pre + "/",
		pre + "/bin/", pre + "/bin/busybox=x nlink=4",
		pre + "/sbin/", pre + "/sbin/early => " + pre + "/bin/busybox nlink=4",
		pre + "/bin/sh => " + pre + "/bin/busybox nlink=4",
		pre + "/bin/ash => " + pre + "/bin/busybox nlink=4",
		pre + "/bin/other=x",
	}
	if strings.Join(r.got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(r.got, "\n"), strings.Join(want, "\n"))
	}
}

func TestHardLinkErrors(t *testing.T) {
	tests := []struct {
		name string
		hs   []tar.Header
		want string
	}{
		{"missing target", []tar.Header{{Name: "a", Typeflag: tar.TypeLink, Linkname: "nope"}}, "not a regular file"},
		{"target is a dir", []tar.Header{{Name: "d", Typeflag: tar.TypeDir}, {Name: "a", Typeflag: tar.TypeLink, Linkname: "d"}}, "not a regular file"},
		{"escape", []tar.Header{{Name: "a", Typeflag: tar.TypeLink, Linkname: "../../../init"}}, "escapes"},
		{"loop", []tar.Header{{Name: "a", Typeflag: tar.TypeLink, Linkname: "b"}, {Name: "b", Typeflag: tar.TypeLink, Linkname: "a"}}, "loop"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sys := &System{Layers: []Layer{{What: "layer L", Prefix: "c", Open: tarOf(t, tc.hs...)}}}
			err := Write(sys, &linkRecorder{})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "layer L") {
				t.Errorf("got %v, want an error naming the layer and containing %q", err, tc.want)
			}
		})
	}
}

// TestCraftedLayers documents what a hostile layer can and cannot do. The
// stream never touches the host filesystem, so a symlink cannot be followed
// while writing; the risk is the consumer (the kernel's initramfs unpacker
// follows symlinks met on the way to a name), which is why nothing may be
// written below a symlink.
func TestCraftedLayers(t *testing.T) {
	const pre = "containers/services/a/rootfs"
	tests := []struct {
		name    string
		hs      []tar.Header
		files   []Entry
		want    []string // entries expected below the prefix (besides dirs)
		wantErr string
	}{
		{name: "absolute names stay inside the rootfs",
			hs:   []tar.Header{{Name: "/etc/passwd", Typeflag: tar.TypeReg}},
			want: []string{pre + "/etc/passwd=x"}},
		{name: "symlink to / then a file below it is hidden, as in overlayfs",
			hs: []tar.Header{
				{Name: "evil", Typeflag: tar.TypeSymlink, Linkname: "/"},
				{Name: "evil/init", Typeflag: tar.TypeReg},
			},
			want: []string{pre + "/evil -> /"}},
		{name: "relative symlink escape then a file below it is hidden",
			hs: []tar.Header{
				{Name: "up", Typeflag: tar.TypeSymlink, Linkname: "../../../../"},
				{Name: "up/usr/bin/svcd", Typeflag: tar.TypeReg},
			},
			want: []string{pre + "/up -> ../../../../"}},
		{name: "a file below a symlink of another part is refused",
			hs:      []tar.Header{{Name: "etc", Typeflag: tar.TypeSymlink, Linkname: "/"}},
			files:   []Entry{{Hdr: tar.Header{Name: pre + "/etc/shadow", Typeflag: tar.TypeReg}, Body: []byte("x")}},
			wantErr: "lies below " + pre + "/etc"},
		{name: "dot-dot is refused",
			hs:      []tar.Header{{Name: "a/../../x", Typeflag: tar.TypeReg}},
			wantErr: "escapes"},
		{name: "symlink targets are kept as data",
			hs:   []tar.Header{{Name: "lib", Typeflag: tar.TypeSymlink, Linkname: "../../../../lib"}},
			want: []string{pre + "/lib -> ../../../../lib"}},
	}
	for _, tc := range tests {
		for _, w := range []Writer{&recorder{}, &linkRecorder{}} {
			sys := &System{Layers: []Layer{{What: "crafted", Prefix: pre, Open: tarOf(t, tc.hs...)}}, Files: tc.files}
			err := Write(sys, w)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.wantErr)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			var got []string
			var all []string
			switch r := w.(type) {
			case *recorder:
				all = r.got
			case *linkRecorder:
				all = r.got
			}
			for _, e := range all {
				if strings.HasPrefix(e, pre+"/") && (!strings.HasSuffix(e, "/") || strings.Contains(e, " -> ")) {
					got = append(got, e)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("%s: got\n%s\nwant\n%s", tc.name, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		}
	}
}

// FuzzWrite checks that no layer makes Write panic or write a name
// outside the layer's prefix.
func FuzzWrite(f *testing.F) {
	f.Add("a/b", "../x", byte('1'))
	f.Add("/abs", "/", byte('2'))
	f.Add("l", "l", byte('1'))
	f.Fuzz(func(t *testing.T, name, link string, typ byte) {
		hs := []tar.Header{
			{Name: name, Typeflag: typ, Linkname: link},
			{Name: link, Typeflag: tar.TypeReg},
			{Name: name + "/x", Typeflag: tar.TypeReg},
		}
		for _, h := range hs {
			if strings.ContainsRune(h.Name, 0) || strings.ContainsRune(h.Linkname, 0) || h.Name == "" {
				return
			}
		}
		open := tarOfF(hs...)
		if open == nil {
			return
		}
		for _, w := range []Writer{&recorder{}, &linkRecorder{}} {
			sys := &System{Layers: []Layer{{What: "fuzz", Prefix: "p", Open: open}}}
			if Write(sys, w) != nil {
				continue
			}
			var all []string
			switch r := w.(type) {
			case *recorder:
				all = r.got
			case *linkRecorder:
				all = r.got
			}
			for _, e := range all {
				if e != "p/" && !strings.HasPrefix(e, "p/") {
					t.Errorf("entry %q written outside the prefix", e)
				}
			}
		}
	})
}

// tarOfF is tarOf for the fuzzer: nil when tar refuses a header.
func tarOfF(hs ...tar.Header) Opener {
	var buf strings.Builder
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		body := ""
		if h.Typeflag == tar.TypeReg {
			body, h.Size = "x", 1
		}
		if tw.WriteHeader(&h) != nil {
			return nil
		}
		io.WriteString(tw, body)
	}
	if tw.Close() != nil {
		return nil
	}
	data := buf.String()
	return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(data)), nil }
}
