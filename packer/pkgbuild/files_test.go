package pkgbuild

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestConcatAndRemove(t *testing.T) {
	const parts = `files:
  - path: /certs/b.crt
    contents: "B\n"
  - path: /certs/a.crt
    contents: "A"
  - path: /certs/c.txt
    contents: "not matched\n"
  - path: /certs/sub/d.crt
    contents: "below: not matched\n"
`
	tests := []struct {
		name    string
		extra   string
		want    map[string]string // path -> content; "" = must be absent
		wantErr string
	}{
		{"concat sorted with newlines", "  - path: /bundle\n    concat: /certs/*.crt\n",
			map[string]string{"bundle": "A\nB\n", "certs/a.crt": "A"}, ""},
		{"concat then remove the parts", "  - path: /bundle\n    concat: /certs/*.crt\n  - path: /certs\n    remove: true\n",
			map[string]string{"bundle": "A\nB\n", "certs/a.crt": "", "certs/sub/d.crt": ""}, ""},
		{"remove then recreate", "  - path: /certs\n    remove: true\n  - path: /certs\n    contents: \"now a file\\n\"\n",
			map[string]string{"certs": "now a file\n", "certs/b.crt": ""}, ""},
		{"concat matching nothing", "  - path: /bundle\n    concat: /none/*.crt\n", nil, "matches no file"},
		{"remove of nothing", "  - path: /none\n    remove: true\n", nil, "nothing at /none"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writePkg(t, "image: x\n"+parts+tc.extra)
			cache := openCache(t)
			ref, err := Build(context.Background(), dir, Options{Cache: cache})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			img, err := cache.Get(ref)
			if err != nil {
				t.Fatal(err)
			}
			files := flatten(t, img)
			for p, want := range tc.want {
				e, ok := files[p]
				switch {
				case want == "" && ok:
					t.Errorf("/%s: present, want it removed", p)
				case want != "" && string(e.data) != want:
					t.Errorf("/%s: got %q, want %q", p, e.data, want)
				}
			}
		})
	}
}

func TestHardLinks(t *testing.T) {
	const base = `files:
  - path: /usr/bin/zz-real
    contents: "#!/bin/sh\n"
    mode: "0755"
`
	tests := []struct {
		name    string
		extra   string
		want    map[string]string // link name -> target it must name
		wantErr string
	}{
		{"link sorting before its target", "  - path: /usr/bin/aa\n    link: /usr/bin/zz-real\n",
			map[string]string{"usr/bin/aa": "usr/bin/zz-real"}, ""},
		{"two links", "  - path: /sbin/x\n    link: /usr/bin/zz-real\n  - path: /usr/bin/y\n    link: /usr/bin/zz-real\n",
			map[string]string{"sbin/x": "usr/bin/zz-real", "usr/bin/y": "usr/bin/zz-real"}, ""},
		{"link to a missing file", "  - path: /usr/bin/aa\n    link: /usr/bin/none\n", nil, "not a regular file added before it"},
		{"link to a directory", "  - path: /usr/bin/aa\n    link: /usr/bin\n", nil, "not a regular file added before it"},
		{"target removed later", "  - path: /usr/bin/aa\n    link: /usr/bin/zz-real\n  - path: /usr/bin/zz-real\n    remove: true\n",
			nil, "no longer a regular file"},
		{"relative target", "  - path: /usr/bin/aa\n    link: zz-real\n", nil, "must be the absolute path"},
		{"link with a mode", "  - path: /usr/bin/aa\n    link: /usr/bin/zz-real\n    mode: \"0700\"\n", nil, "has no mode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := writePkg(t, "image: x\n"+base+tc.extra)
			cache := openCache(t)
			ref, err := Build(context.Background(), dir, Options{Cache: cache})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			img, err := cache.Get(ref)
			if err != nil {
				t.Fatal(err)
			}
			// The layer itself, in order: a link must follow its target.
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			rc, err := layers[len(layers)-1].Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			seen := map[string]bool{}
			found := map[string]bool{}
			tr := tar.NewReader(rc)
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if want, ok := tc.want[h.Name]; ok {
					found[h.Name] = true
					if h.Typeflag != tar.TypeLink || h.Linkname != want {
						t.Errorf("%s: got type %c link %q, want a hard link to %q", h.Name, h.Typeflag, h.Linkname, want)
					}
					if !seen[want] {
						t.Errorf("%s: written before its target %s", h.Name, want)
					}
					if h.Mode != 0o755 {
						t.Errorf("%s: got mode %o, want its target's 0755", h.Name, h.Mode)
					}
				}
				seen[h.Name] = true
			}
			for name := range tc.want {
				if !found[name] {
					t.Errorf("%s: missing from the layer", name)
				}
			}
		})
	}
}
