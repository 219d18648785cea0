package pkgbuild

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writePkg(t *testing.T, buildYML string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(buildYML), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name, yml, want string
	}{
		{"unknown top-level key", "image: x\nimgae: y\n", "build.yml:2:1: unknown key \"imgae\""},
		{"unknown key in a go entry", "image: x\ngo:\n  - package: ./x\n    outptu: /x\n", "build.yml:4:5: unknown key \"outptu\""},
		{"unknown key in a file entry", "image: x\nfiles:\n  - path: /a\n    content: x\n", "build.yml:4:5: unknown key \"content\""},
		{"unknown key in kernel", "image: x\nkernel:\n  deb: y\n", "build.yml:3:3: unknown key \"deb\""},
		{"missing image", "org: keel\n", "missing required key 'image'"},
		{"bad image name", "image: Init\n", "valid repository name"},
		{"wrong type", "image: x\ngo:\n  - package: ./x\n    output: /x\n    cgo: maybe\n", "line 5"},
		{"relative output", "image: x\ngo:\n  - package: ./x\n    output: x\n", "absolute path"},
		{"two kinds", "image: x\nfiles:\n  - path: /a\n    contents: x\n    directory: true\n", "exactly one"},
		{"no kind", "image: x\nfiles:\n  - path: /a\n", "exactly one"},
		{"bad mode", "image: x\nfiles:\n  - path: /a\n    contents: x\n    mode: \"0999\"\n", "octal"},
		{"root path", "image: x\nfiles:\n  - path: /\n    directory: true\n", "below /"},
		{"kernel with more", "image: k\nkernel:\n  debian: linux-image-cloud-amd64\nfiles:\n  - path: /a\n    contents: x\n", "only the kernel"},
		{"kernel modules not all", "image: k\nkernel:\n  debian: linux-image-{arch}\n  modules: most\n", `modules: "most" is not "all"`},
		{"not a mapping", "- a\n", "want a mapping"},
		{"empty", "", "empty file"},
		{"duplicate key", "image: x\nimage: y\n", "already defined"},
		{"bad debian name", "image: x\ndebian: [\"a b\"]\n", "not a Debian package name"},
		{"relative concat", "image: x\nfiles:\n  - path: /a\n    concat: \"*.crt\"\n", "absolute glob"},
		{"bad concat pattern", "image: x\nfiles:\n  - path: /a\n    concat: \"/[\"\n", "absolute glob"},
		{"remove with mode", "image: x\nfiles:\n  - path: /a\n    remove: true\n    mode: \"0644\"\n", "has no mode"},
		{"non-string config key", "image: x\nconfig:\n  a:\n    1: x\n", "keys must be strings"},
		{"unknown arch", "image: x\narches: [amd64, s390x]\n", "arches[1]"},
		{"arch twice", "image: x\narches: [arm64, arm64]\n", "listed twice"},
		{"images package not a dir", "image: x\nimages:\n  - package: pause\n    name: registry.k8s.io/pause:3.10.2\n    path: /i/pause.tar\n", "package directory"},
		{"images name without a tag", "image: x\nimages:\n  - package: ../pause\n    name: registry.k8s.io/pause\n    path: /i/pause.tar\n", "with a tag"},
		{"images relative path", "image: x\nimages:\n  - package: ../pause\n    name: registry.k8s.io/pause:3.10.2\n    path: i/pause.tar\n", "absolute path"},
		{"unknown key in images", "image: x\nimages:\n  - package: ../pause\n    ref: y\n", "build.yml:4:5: unknown key \"ref\""},
		{"x name without a dot", "image: x\ngo:\n  - package: ./x\n    output: /x\n    x: {version: v1}\n", "not importpath.name"},
		{"x value with a space", "image: x\ngo:\n  - package: ./x\n    output: /x\n    x: {main.version: \"v1 dirty\"}\n", "white space or a quote"},
		{"x value with a quote", "image: x\ngo:\n  - package: ./x\n    output: /x\n    x: {main.version: \"v1'\"}\n", "white space or a quote"},
	}
	for _, tc := range tests {
		dir := writePkg(t, tc.yml)
		_, err := Load(dir)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), filepath.Join(dir, FileName)) {
			t.Errorf("%s: error %q does not name the file", tc.name, err)
		}
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no build.yml") {
		t.Errorf("Load of a dir without build.yml: got %v", err)
	}
}

func TestLoadDefaults(t *testing.T) {
	p, err := Load(writePkg(t, "image: x\nfiles:\n  - path: /etc/motd\n    contents: \"\"\n  - path: /a\n    source: a\n    mode: 4755\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Org != DefaultOrg {
		t.Errorf("org = %q, want %q", p.Spec.Org, DefaultOrg)
	}
	if p.Spec.Files[0].Contents == nil {
		t.Error("empty contents read as unset")
	}
	if p.Spec.Files[1].Mode != "4755" {
		t.Errorf("unquoted mode read as %q, want 4755", p.Spec.Files[1].Mode)
	}
	m, err := parseMode("4755")
	if err != nil || m.Perm() != 0o755 || m&os.ModeSetuid == 0 {
		t.Errorf("parseMode(4755) = %v, %v", m, err)
	}
}

func TestMobyConfigJSON(t *testing.T) {
	p, err := Load(writePkg(t, "image: x\nconfig:\n  pid: host\n  binds: [\"/a:/a\"]\n  capabilities: [all]\n  readonly: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := p.Spec.mobyConfig()
	want := `{"binds":["/a:/a"],"capabilities":["all"],"pid":"host","readonly":true}`
	if !ok || err != nil || got != want {
		t.Errorf("mobyConfig = %s, %v, %v; want %s", got, ok, err, want)
	}
}
