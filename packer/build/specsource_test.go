package build

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const remoteSpec = `kernel:
  image: example.org/kernel:6.1
init:
  - example.org/init:v1
services:
  - name: web
    image: example.org/web:v1
`

func TestLoadSpecFromURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok.yml":
			w.Write([]byte(remoteSpec))
		case "/pkg.yml":
			w.Write([]byte(remoteSpec + "  - name: local\n    image: \"@pkg:../pkgs/hello\"\n"))
		case "/source.yml":
			w.Write([]byte(remoteSpec + "files:\n  - path: /etc/key\n    source: ~/.ssh/id_ed25519\n"))
		case "/huge.yml":
			w.Write([]byte("# " + strings.Repeat("x", maxSpecBytes) + "\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path    string
		wantErr string
	}{
		{"/ok.yml", ""},
		{"/pkg.yml", "names a package directory"},
		{"/source.yml", "copies "},
		{"/huge.yml", "is over 4 MiB: not a spec"},
		{"/missing.yml", "the server answered 404"},
	} {
		s, err := Load(context.Background(), Options{Files: []string{srv.URL + tc.path}, TagsOnly: true})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: got error %v, want one containing %q", tc.path, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if len(s.Services) != 1 || s.Services[0].Name != "web" {
			t.Errorf("%s: services %+v, want web", tc.path, s.Services)
		}
	}
}

func TestDefaultName(t *testing.T) {
	for in, want := range map[string]string{
		"examples/minimal.yml": "minimal",
		"-":                    "keel",
		"https://example.org/specs/web.yml?raw=1": "web",
		"https://example.org/":                    "keel",
		"a.b.yaml":                                "a.b",
	} {
		if got := DefaultName(in); got != want {
			t.Errorf("DefaultName(%q) = %q, want %q", in, got, want)
		}
	}
}
