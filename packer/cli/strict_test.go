package cli

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-os/keel/packer/image"
)

// riskySpec has one service asking for CAP_SYS_ADMIN in the spec and one
// whose image label makes it privileged with the host's pid namespace.
const riskySpec = `kernel:
  image: test/kernel:1
services:
  - name: mounter
    image: test/svc:1
    capabilities: [CAP_SYS_ADMIN]
  - name: shell
    image: test/priv:1
  - name: plain
    image: test/svc:1
`

// cacheWithRisky is cacheWith plus an image whose org.mobyproject.config
// label asks for every capability and the host's pid namespace.
func cacheWithRisky(t *testing.T) string {
	t.Helper()
	dir := cacheWith(t)
	c, err := image.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	tr := image.NewTree()
	if err := tr.AddBytes("/bin/sh", 0o755, []byte("S")); err != nil {
		t.Fatal(err)
	}
	img, err := image.NewImage(tr, v1.Config{Entrypoint: []string{"/bin/sh"},
		Labels: map[string]string{"org.mobyproject.config": `{"capabilities":["all"],"pid":"host"}`}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put("test/priv:1", img); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBuildConfinementWarnings(t *testing.T) {
	mounter := `warning: service "mounter" (test/svc:1): holds CAP_SYS_ADMIN (capabilities: [CAP_SYS_ADMIN]), set in the spec`
	shell := `warning: service "shell" (test/priv:1): is privileged (capabilities: [all]); ` +
		`shares the host's pid namespace (pid: host); all set in the image's org.mobyproject.config label`
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string
	}{
		{"default", nil, 0, []string{mounter + "\n", shell + "\n", "built "}},
		{"quiet keeps warnings", []string{"-q"}, 0, []string{mounter + "\n", shell + "\n"}},
		{"strict fails", []string{"--strict"}, 1, []string{mounter + "\n", shell + "\n",
			`keel: --strict: 2 container(s) loosen the default confinement: service "mounter", service "shell"; `}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache, out := cacheWithRisky(t), t.TempDir()
			args := append([]string{"--cache", cache, "build", "-pull", "never", "-dir", out}, tc.args...)
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), append(args, "-"), strings.NewReader(riskySpec), &stdout, &stderr)
			if code != tc.wantCode {
				t.Fatalf("got exit %d, want %d; stderr:\n%s", code, tc.wantCode, stderr.String())
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("got stderr:\n%s\nwant it to hold %q", stderr.String(), w)
				}
			}
			if n := strings.Count(stderr.String(), "warning: "); n != 2 {
				t.Errorf("got %d warning lines, want 2 (one per risky container, none for plain):\n%s", n, stderr.String())
			}
			entries, _ := os.ReadDir(out)
			if built := len(entries) > 0; built != (tc.wantCode == 0) {
				t.Errorf("got %d files written, want files only when the build succeeds", len(entries))
			}
		})
	}
}
