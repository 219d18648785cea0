package build

import (
	"encoding/json"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// volumeFixture is the test fixture with a volume image in the cache and a
// spec whose service binds a blank and an image volume.
func volumeFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, "")
	if err := f.cache.Put("test/vol:1", treeImage(t, map[string]string{"/data/hello.txt": "hello\n"}, v1.Config{})); err != nil {
		t.Fatal(err)
	}
	f.spec = strings.Replace(f.spec, "    image: test/svc:1\n", `    image: test/svc:1
    binds.add:
      - scratch:/scratch
      - content:/content:ro
    mounts:
      - type: bind
        source: content
        destination: /m
        options: [rbind, ro]
volumes:
  - name: scratch
  - name: content
    image: test/vol:1
    readonly: true
`, 1)
	f.spec = strings.Replace(f.spec, `    command: ["/init"]
`, `    command: ["/init"]
    binds: ["scratch:/s"]
`, 1)
	return f
}

func TestBuildVolumes(t *testing.T) {
	f := volumeFixture(t)
	res, err := f.run(t, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	files := readInitrd(t, res.Initrd)
	for _, tc := range []struct {
		name  string
		dir   bool
		data  string
		there bool
	}{
		{"containers/volumes/scratch/merged", true, "", true},
		{"containers/volumes/scratch/readonly", false, "", false},
		{"containers/volumes/content/merged", true, "", true},
		{"containers/volumes/content/readonly", true, "", true},
		{"containers/volumes/content/merged/data/hello.txt", false, "hello\n", true},
	} {
		e := files[tc.name]
		if got := e != nil; got != tc.there {
			t.Errorf("%s in the initrd: got %v, want %v", tc.name, got, tc.there)
			continue
		}
		if e == nil {
			continue
		}
		if got := e.hdr.Mode.IsDir(); got != tc.dir {
			t.Errorf("%s is a directory: got %v, want %v", tc.name, got, tc.dir)
		}
		if !tc.dir && string(e.data) != tc.data {
			t.Errorf("%s: got %q, want %q", tc.name, e.data, tc.data)
		}
	}

	checkMounts(t, files, "containers/services/svc/config.json", map[string]string{
		"/scratch": "/containers/volumes/scratch/merged",
		"/content": "/containers/volumes/content/merged",
		"/m":       "/containers/volumes/content/merged",
	})
	checkMounts(t, files, "containers/onboot/000-first/config.json", map[string]string{
		"/s": "/containers/volumes/scratch/merged",
	})
}

// checkMounts checks that the OCI config at name mounts each destination
// of want from its source.
func checkMounts(t *testing.T, files map[string]*cpioEntry, name string, want map[string]string) {
	t.Helper()
	cfg := files[name]
	if cfg == nil {
		t.Fatalf("%s is missing", name)
	}
	var oci specs.Spec
	if err := json.Unmarshal(cfg.data, &oci); err != nil {
		t.Fatal(err)
	}
	for _, m := range oci.Mounts {
		if src, ok := want[m.Destination]; ok {
			if m.Source != src {
				t.Errorf("%s: mount on %s: got source %q, want %q", name, m.Destination, m.Source, src)
			}
			delete(want, m.Destination)
		}
	}
	for dest := range want {
		t.Errorf("%s has no mount on %s", name, dest)
	}
}

func TestBuildVolumeErrors(t *testing.T) {
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"read-only volume bound read-write", "content:/content:ro", "content:/content", `volume "content" is read-only; bind it with the ro option`},
		{"unknown volume", "scratch:/scratch", "scrach:/scratch", `bind source "scrach" is neither an absolute path nor a volume (did you mean "scratch"?)`},
		{"oci format", "    readonly: true\n", "    readonly: true\n    format: oci\n", "format oci (the image as an OCI layout) is not built by Keel yet"},
		{"missing volume image", "image: test/vol:1", "image: test/nothere:1", "test/nothere:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := volumeFixture(t)
			f.spec = strings.Replace(f.spec, tc.from, tc.to, 1)
			_, err := f.run(t, t.TempDir(), func(o *Options) { o.Pull = "never" })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
