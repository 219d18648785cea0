package pkgbuild

import (
	"context"
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
