package pkgbuild

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// fakeApt answers from control stanzas keyed by package name, the way
// apt-cache does: Show skips names it has no stanza for (virtual ones).
type fakeApt struct {
	stanzas map[string]string
}

// Depends walks every alternative and provider from roots, as apt-cache
// depends --recurse does, and prints what it visits in apt's format.
func (f *fakeApt) Depends(_ context.Context, roots []string) (string, error) {
	var b strings.Builder
	seen := map[string]bool{}
	queue := append([]string(nil), roots...)
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if seen[n] {
			continue
		}
		seen[n] = true
		s, ok := f.stanzas[n]
		if !ok {
			b.WriteString("<" + n + ">\n")
			for p, ps := range f.stanzas {
				if strings.Contains(ps, "Provides: "+n) {
					b.WriteString("    " + p + "\n")
					queue = append(queue, p)
				}
			}
			continue
		}
		b.WriteString(n + "\n")
		d := parseStanza(s)
		for _, group := range parseRelations(d.PreDepends + "," + d.Depends) {
			for i, alt := range group {
				bar := " "
				if i < len(group)-1 {
					bar = "|"
				}
				b.WriteString(" " + bar + "Depends: " + alt + "\n")
				queue = append(queue, alt)
			}
		}
	}
	return b.String(), nil
}

func (f *fakeApt) Show(_ context.Context, names []string) (string, error) {
	var b strings.Builder
	for _, n := range names {
		if s, ok := f.stanzas[n]; ok {
			b.WriteString(s + "\n\n")
		}
	}
	return b.String(), nil
}

// stanza writes a control stanza; fields are "Key: value" lines.
func stanza(pkg string, fields ...string) string {
	return strings.Join(append([]string{"Package: " + pkg, "Version: 1.0-1", "Architecture: amd64", "SHA256: " + strings.Repeat("a", 64)}, fields...), "\n")
}

func TestParseRelations(t *testing.T) {
	tests := []struct {
		field string
		want  [][]string
	}{
		{"", nil},
		{"libc6 (>= 2.34)", [][]string{{"libc6"}}},
		{"libc6 (>= 2.34), libblkid1 (>= 2.36) | foo, python3:any (>= 3.11)", [][]string{{"libc6"}, {"libblkid1", "foo"}, {"python3"}}},
		{"a [amd64], b:amd64|c", [][]string{{"a"}, {"b", "c"}}},
	}
	for _, tc := range tests {
		if got := parseRelations(tc.field); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseRelations(%q): got %q, want %q", tc.field, got, tc.want)
		}
	}
}

func TestParseDependsNames(t *testing.T) {
	out := "e2fsprogs\n  PreDepends: libc6\n |Depends: logsave\n  Depends: <awk>\n    mawk\n    gawk\n  Depends: libfoo:i386\nlibc6\n  Depends: libgcc-s1\n<awk>\nmawk\n"
	want := []string{"e2fsprogs", "libc6", "logsave", "awk", "mawk", "gawk", "libfoo", "libgcc-s1"}
	if got := parseDependsNames(out); !reflect.DeepEqual(got, want) {
		t.Errorf("parseDependsNames: got %q, want %q", got, want)
	}
}

func TestDebClosure(t *testing.T) {
	world := map[string]string{
		"e2fsprogs":   stanza("e2fsprogs", "Pre-Depends: libc6 (>= 2.34), libext2fs2 (= 1.47.0-2)", "Depends: logsave"),
		"libext2fs2":  stanza("libext2fs2", "Depends: libc6"),
		"logsave":     stanza("logsave", "Depends: libc6 (>= 2.34)"),
		"libc6":       stanza("libc6", "Depends: libgcc-s1"),
		"libgcc-s1":   stanza("libgcc-s1", "Depends: gcc-12-base, libc6"),
		"gcc-12-base": stanza("gcc-12-base"),
		"alt":         stanza("alt", "Depends: first | second"),
		"first":       stanza("first"),
		"second":      stanza("second"),
		"needsawk":    stanza("needsawk", "Depends: awk"),
		"mawk":        stanza("mawk", "Provides: awk"),
		"needsmta":    stanza("needsmta", "Depends: mail-transport-agent"),
		"exim4":       stanza("exim4", "Provides: mail-transport-agent"),
		"postfix":     stanza("postfix", "Provides: mail-transport-agent (= 1)"),
		"broken":      stanza("broken", "Depends: gone (>= 2)"),
		"i386only":    strings.Replace(stanza("i386only"), "amd64", "i386", 1),
		"usesi386":    stanza("usesi386", "Depends: i386only"),
		"cycle-a":     stanza("cycle-a", "Depends: cycle-b"),
		"cycle-b":     stanza("cycle-b", "Depends: cycle-a"),
		"nosum":       "Package: nosum\nVersion: 1\nArchitecture: all",
		"needsnosum":  stanza("needsnosum", "Depends: nosum"),
	}
	tests := []struct {
		name  string
		roots []string
		have  []string
		want  [][]string // package names per root, in unpack order
		err   string
	}{
		{"recursive pre-depends and depends", []string{"e2fsprogs"}, nil,
			[][]string{{"gcc-12-base", "libc6", "libext2fs2", "libgcc-s1", "logsave", "e2fsprogs"}}, ""},
		{"first alternative", []string{"alt"}, nil, [][]string{{"first", "alt"}}, ""},
		{"alternative already present", []string{"alt"}, []string{"second"}, [][]string{{"alt"}}, ""},
		{"virtual with one provider", []string{"needsawk"}, nil, [][]string{{"mawk", "needsawk"}}, ""},
		{"virtual with several providers", []string{"needsmta"}, nil, nil, "exim4, postfix provide"},
		{"virtual provided by an entry", []string{"needsmta"}, []string{"postfix"}, [][]string{{"needsmta"}}, ""},
		{"shared dependencies once", []string{"logsave", "e2fsprogs"}, nil,
			[][]string{{"gcc-12-base", "libc6", "libgcc-s1", "logsave"}, {"libext2fs2", "e2fsprogs"}}, ""},
		{"root that is another root's dependency", []string{"e2fsprogs", "libc6"}, nil,
			[][]string{{"libext2fs2", "logsave", "e2fsprogs"}, {"gcc-12-base", "libgcc-s1", "libc6"}}, ""},
		{"cycle", []string{"cycle-a"}, nil, [][]string{{"cycle-b", "cycle-a"}}, ""},
		{"missing dependency", []string{"broken"}, nil, nil, "depends on gone, which apt's lists do not have"},
		{"foreign architecture only", []string{"usesi386"}, nil, nil, "depends on i386only"},
		{"unknown root", []string{"nosuch"}, nil, nil, `"nosuch" not found`},
		{"no checksum", []string{"needsnosum"}, nil, nil, "no Version or SHA256 for it"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			apt := &fakeApt{stanzas: world}
			got, err := debClosure(context.Background(), apt, "amd64", tc.roots, tc.have)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names [][]string
			for _, debs := range got {
				var n []string
				for _, d := range debs {
					n = append(n, d.Package)
				}
				names = append(names, n)
			}
			if !reflect.DeepEqual(names, tc.want) {
				t.Errorf("got %q, want %q", names, tc.want)
			}
		})
	}
}

// The closure's package identities are what the tag hashes: a new
// version of any dependency must change the tag.
func TestDebClosureIdentity(t *testing.T) {
	world := map[string]string{
		"app":  stanza("app", "Depends: libx"),
		"libx": stanza("libx"),
	}
	got, err := debClosure(context.Background(), &fakeApt{stanzas: world}, "amd64", []string{"app"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "libx=1.0-1 amd64 sha256:" + strings.Repeat("a", 64); got[0][0].String() != want {
		t.Errorf("dependency identity: got %q, want %q", got[0][0].String(), want)
	}
}

type failingApt struct{}

func (failingApt) Depends(context.Context, []string) (string, error) {
	return "", errors.New("apt-cache depends: exit status 100")
}
func (failingApt) Show(context.Context, []string) (string, error) { return "", nil }

func TestDebClosureAptFails(t *testing.T) {
	_, err := debClosure(context.Background(), failingApt{}, "amd64", []string{"x"}, nil)
	if err == nil || !strings.Contains(err.Error(), "listing the dependencies of x") {
		t.Errorf("got %v, want an error naming the package", err)
	}
	if got, err := debClosure(context.Background(), failingApt{}, "amd64", nil, nil); got != nil || err != nil {
		t.Errorf("no roots: got %v, %v; want nothing and no apt call", got, err)
	}
}

func TestDebianEntryForms(t *testing.T) {
	p, err := Load(writePkg(t, "image: x\ndebian:\n  - busybox-static\n  - name: e2fsprogs\n    dependencies: true\n  - {name: mawk}\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []DebianPackage{{"busybox-static", false}, {"e2fsprogs", true}, {"mawk", false}}
	if !reflect.DeepEqual(p.Spec.Debian, want) {
		t.Errorf("debian entries: got %+v, want %+v", p.Spec.Debian, want)
	}
	bad := []struct{ yml, want string }{
		{"image: x\ndebian:\n  - name: a\n    deps: true\n", `4:5: unknown key "deps"`},
		{"image: x\ndebian:\n  - dependencies: true\n", "is not a Debian package name"},
		{"image: x\ndebian:\n  - [a]\n", "a package name or a mapping"},
		{"image: x\ndebian: [a, {name: a, dependencies: true}]\n", "a is listed twice"},
		{"image: x\ndebian:\n  - name: a\n    dependencies: maybe\n", "line 4"},
	}
	for _, tc := range bad {
		if _, err := Load(writePkg(t, tc.yml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error containing %q", tc.yml, err, tc.want)
		}
	}
}

// TestDebianDependenciesRun builds a package holding e2fsprogs with its
// dependency closure and runs its dynamically linked mke2fs inside the
// unpacked image, which proves the loader and every library came along.
func TestDebianDependenciesRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chroot into the unpacked image")
	}
	if testing.Short() {
		t.Skip("downloads Debian packages")
	}
	needApt(t)
	dir := writePkg(t, "image: mkfs\ndebian:\n  - name: e2fsprogs\n    dependencies: true\n")
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Tag(); err != nil {
		t.Skipf("apt cannot resolve e2fsprogs here: %v", err)
	}
	var names []string
	for _, d := range p.debs {
		names = append(names, d.Package)
	}
	if len(names) < 3 || names[len(names)-1] != "e2fsprogs" || !strings.Contains(strings.Join(names, " "), "libc6") {
		t.Errorf("resolved %q, want e2fsprogs last after its dependencies, libc6 among them", names)
	}
	cache := openCache(t)
	ref, err := Build(context.Background(), dir, Options{Cache: cache, DebCache: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	img, err := cache.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := unpackTo(root, flatten(t, img)); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("chroot", root, "/sbin/mke2fs", "-V").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "mke2fs") {
		t.Errorf("running /sbin/mke2fs in the image: %v\n%s", err, out)
	}
}

// unpackTo writes flattened image entries below root, parents first.
func unpackTo(root string, files map[string]entry) error {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		e, dst := files[n], filepath.Join(root, n)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		var err error
		switch e.hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(dst, os.FileMode(e.hdr.Mode).Perm())
		case tar.TypeSymlink:
			err = os.Symlink(e.hdr.Linkname, dst)
		case tar.TypeReg:
			err = os.WriteFile(dst, e.data, os.FileMode(e.hdr.Mode).Perm())
		}
		if err != nil {
			return err
		}
	}
	return nil
}
