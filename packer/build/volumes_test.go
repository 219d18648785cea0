package build

import (
	"bytes"
	"encoding/json"
	"os"
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
  - name: layout
    image: test/vol:1
    format: oci
    platforms: [linux/amd64]
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

	checkOCILayout(t, f, files, "containers/volumes/layout/merged/")
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
		{"read-only volume bound read-write", "content:/content:ro", "content:/content", `volume "content" is read-only, but this bind is read-write`},
		{"unknown volume", "scratch:/scratch", "scrach:/scratch", `bind source "scrach" is neither an absolute path nor a volume (did you mean "scratch"?)`},
		{"oci layout of another platform", "platforms: [linux/amd64]", "platforms: [linux/amd64, linux/arm64]", `platform "linux/arm64": Keel puts only the image of the system's platform (linux/amd64)`},
		{"unknown format", "format: oci", "format: tarball", `unknown volume format "tarball"`},
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

// checkOCILayout checks the OCI layout volume under dir: the index names
// the image's manifest, and every blob is there under its digest.
func checkOCILayout(t *testing.T, f *fixture, files map[string]*cpioEntry, dir string) {
	t.Helper()
	img, err := f.cache.Get("test/vol:1")
	if err != nil {
		t.Fatal(err)
	}
	md, _ := img.Digest()
	cd, _ := img.ConfigName()
	layers, _ := img.Layers()
	want := []string{"oci-layout", "blobs/sha256/" + md.Hex, "blobs/sha256/" + cd.Hex}
	for _, l := range layers {
		d, _ := l.Digest()
		want = append(want, "blobs/sha256/"+d.Hex)
	}
	for _, name := range want {
		if files[dir+name] == nil {
			t.Errorf("%s%s missing from the OCI layout volume", dir, name)
		}
	}
	if e := files[dir+"blobs/sha256/"+md.Hex]; e != nil {
		raw, _ := img.RawManifest()
		if string(e.data) != string(raw) {
			t.Errorf("manifest blob: got %q, want %q", e.data, raw)
		}
	}
	idx := files[dir+"index.json"]
	if idx == nil {
		t.Fatalf("%sindex.json missing", dir)
	}
	var index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(idx.data, &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Digest != md.String() || index.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "test/vol:1" {
		t.Errorf("index.json: got %s, want one manifest %s named test/vol:1", idx.data, md)
	}
}

// TestBuildVolumesReproducible builds the volume fixture from two fresh
// caches (no shared segments): the initrds must be identical.
func TestBuildVolumesReproducible(t *testing.T) {
	var got [][]byte
	for i := 0; i < 2; i++ {
		res, err := volumeFixture(t).run(t, t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(res.Initrd)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b)
	}
	if !bytes.Equal(got[0], got[1]) {
		t.Error("two builds of the same spec with volumes differ: got different initrds, want the same bytes")
	}
}
