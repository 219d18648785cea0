package spec

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestVolumeChecks covers the build-time rules of volumes in every place
// that can name one.
func TestVolumeChecks(t *testing.T) {
	vols := head + "volumes:\n  - name: data\n  - name: ro\n    readonly: true\n"
	tests := []struct {
		name, yaml, want string // want "" means no error
	}{
		{"rw bind of a rw volume in onboot", vols + "onboot:\n  - name: a\n    image: b\n    binds: [\"data:/d\"]\n", ""},
		{"ro bind of a ro volume in onshutdown", vols + "onshutdown:\n  - name: a\n    image: b\n    binds: [\"ro:/d:ro\"]\n", ""},
		{"ro among other options", vols + "services:\n  - name: a\n    image: b\n    binds.add: [\"ro:/d:ro,rshared\"]\n", ""},
		{"rw bind of a ro volume in onshutdown", vols + "onshutdown:\n  - name: a\n    image: b\n    binds: [\"ro:/d\"]\n", `volume "ro" is read-only, but this bind is read-write`},
		{"rw binds.add of a ro volume", vols + "services:\n  - name: a\n    image: b\n    binds.add: [\"ro:/d:rshared\"]\n", `volume "ro" is read-only, but this bind is read-write`},
		{"ro then rw: the last wins", vols + "services:\n  - name: a\n    image: b\n    binds.add: [\"ro:/d:ro,rw\"]\n", `volume "ro" is read-only, but this bind is read-write`},
		{"rw mount of a ro volume", vols + "services:\n  - name: a\n    image: b\n    mounts:\n      - {type: bind, source: ro, destination: /d, options: [rbind]}\n", `volume "ro" is read-only, but this bind is read-write`},
		{"ro mount of a ro volume", vols + "services:\n  - name: a\n    image: b\n    mounts:\n      - {type: bind, source: ro, destination: /d, options: [rbind, ro]}\n", ""},
		{"mount of an unknown volume", vols + "services:\n  - name: a\n    image: b\n    mounts:\n      - {type: bind, source: date, destination: /d}\n", `bind source "date" is neither an absolute path nor a volume (did you mean "data"?)`},
		{"duplicate volume", vols + "  - name: data\n", `duplicate volume name "data"`},
		{"unknown format", head + "volumes:\n  - name: v\n    image: x\n    format: tar\n", `unknown volume format "tar"`},
		{"oci format", head + "volumes:\n  - name: v\n    image: x\n    format: oci\n    platforms: [linux/amd64]\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yml", []byte(tc.yaml))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestVolumeImageRefs: a volume's image is an image of the spec (pulled,
// pinned, built when it names a package), and a blank volume has none.
func TestVolumeImageRefs(t *testing.T) {
	s, err := Parse(filepath.Join("dir", "f.yml"), []byte(head+"volumes:\n  - name: blank\n  - name: v\n    image: \"@pkg:../pkgs/x\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	refs := s.ImageRefs()
	want := []string{"k", "@pkg:" + filepath.Join("pkgs", "x")}
	if strings.Join(refs, " ") != strings.Join(want, " ") {
		t.Errorf("got refs %q, want %q", refs, want)
	}
}
