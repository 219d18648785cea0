package spec

import (
	"reflect"
	"strings"
	"testing"
)

// TestParseWarnings covers input LinuxKit builds and Keel accepts too, but
// that looks odd: Parse succeeds and says so, at the place.
func TestParseWarnings(t *testing.T) {
	svc := head + "services:\n  - name: a\n    image: b\n"
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"relative mount destination (LinuxKit's writeable-host-etc)",
			svc + "    mounts:\n      - type: bind\n        source: /etc\n        destination: writeable-host-etc\n        options: [rbind]\n",
			[]string{`f.yml:9:22: services[0].mounts[0]: relative destination "writeable-host-etc" is taken as "/writeable-host-etc" (from the container's root, as LinuxKit does)`}},
		{"relative bind destination", svc + "    binds: [\"/a:b\"]\n",
			[]string{`f.yml:6:13: services[0].binds[0]: bind "/a:b": relative destination "b" is taken as "/b"`}},
		{"empty bind options", svc + "    binds.add: [\"/a:/b:\"]\n",
			[]string{`f.yml:6:17: services[0].binds.add[0]: bind "/a:/b:": empty mount options are ignored`}},
		{"relative tmpfs destination", svc + "    tmpfs: [tmp]\n",
			[]string{`f.yml:6:13: services[0].tmpfs[0]: relative destination "tmp" is taken as "/tmp"`}},
		{"optional without source", head + "files:\n  - path: etc/x\n    contents: a\n    optional: true\n",
			[]string{`f.yml:6:15: files[0].optional: only applies to files with a source; ignored`}},
		{"contents and symlink", head + "files:\n  - path: etc/x\n    contents: a\n    symlink: /y\n",
			[]string{`f.yml:6:14: files[0]: sets both contents and symlink: LinuxKit builds the symlink and ignores the rest, and so does Keel`}},
		{"symlink and directory", head + "files:\n  - path: etc/x\n    symlink: /y\n    directory: true\n",
			[]string{`f.yml:6:16: files[0]: sets both symlink and directory: LinuxKit builds the directory and ignores the rest, and so does Keel`}},
		{"lone all in capabilities.add", svc + "    capabilities.add: [all]\n",
			[]string{`f.yml:6:24: services[0].capabilities.add[0]: "all" means every capability only if the image's label sets none (as in LinuxKit); capabilities: [all] says it plainly`}},
		{"relative runtime paths are LinuxKit's (from the rootfs), not odd", svc + "    runtime:\n      mkdir: [var/lib/x]\n      mounts:\n        - {type: tmpfs, source: tmpfs, destination: tmp}\n", nil},
		{"nothing odd", svc + "    binds: [\"/a:/b:ro\"]\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("f.yml", []byte(tc.yaml))
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if !reflect.DeepEqual(s.Warnings, tc.want) {
				t.Errorf("got warnings\n%s\nwant\n%s", strings.Join(s.Warnings, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestParseWarningsBounded: hostile input cannot grow the warnings
// without bound.
func TestParseWarningsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(head + "services:\n  - name: a\n    image: b\n    tmpfs:\n")
	for i := 0; i < 500; i++ {
		b.WriteString("      - t\n")
	}
	s, err := Parse("f.yml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(s.Warnings), maxErrors+1; got != want {
		t.Errorf("got %d warnings, want %d", got, want)
	}
}
