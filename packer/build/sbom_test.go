package build

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/sbom"
)

// attach stores an SBOM listing debs for the image ref of the fixture's
// cache, as `keel pkg build` does.
func attach(t *testing.T, c *image.Cache, ref string, debs ...string) {
	t.Helper()
	img, err := c.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := img.RawManifest()
	d, _ := img.Digest()
	mt, _ := img.MediaType()
	b := sbom.New(ref, "1")
	for _, deb := range debs {
		b.AddDeb(deb, "1.0", "amd64", "aa")
	}
	doc, err := b.Document(sbom.FixedTime)
	if err != nil {
		t.Fatal(err)
	}
	body, err := sbom.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PutReferrer(v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: d}, sbom.MediaType, body); err != nil {
		t.Fatal(err)
	}
}

func sbomFixture(t *testing.T) *fixture {
	f := newFixture(t, "")
	attach(t, f.cache, "test/init:1", "libc6", "busybox")
	attach(t, f.cache, "test/svc:1", "libc6", "zlib1g")
	return f
}

// TestSystemSBOM: the image holds one SPDX document merged from its
// images' (a package both list appears once), with the image without an
// SBOM (the kernel here, as a pulled image would be) listed by its
// digest, and the same bytes from build to build.
func TestSystemSBOM(t *testing.T) {
	f := sbomFixture(t)
	var bodies [][]byte
	for range 2 {
		res, err := f.run(t, t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		e := readInitrd(t, res.Initrd)["sbom.spdx.json"]
		if e == nil {
			t.Fatal("sbom.spdx.json is not in the initrd")
		}
		bodies = append(bodies, e.data)
	}
	if !bytes.Equal(bodies[0], bodies[1]) {
		t.Errorf("two builds wrote different SBOMs")
	}
	doc, err := sbom.Parse(bytes.NewReader(bodies[0]))
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, p := range doc.Packages {
		count[p.PackageName]++
	}
	kimg, _ := f.cache.Get("test/kernel:1")
	kd, _ := kimg.Digest()
	want := map[string]int{"sys": 1, "test/init:1": 1, "test/svc:1": 1, "libc6": 1, "busybox": 1, "zlib1g": 1, "test/kernel:1": 1}
	for name, n := range want {
		if count[name] != n {
			t.Errorf("got %d packages named %s, want %d (all: %v)", count[name], name, n, count)
		}
	}
	if len(count) != len(want) {
		t.Errorf("got packages %v, want %v", count, want)
	}
	if !bytes.Contains(bodies[0], []byte(kd.Hex)) {
		t.Errorf("the kernel image, which has no SBOM, is not listed by its digest %s", kd)
	}
	if doc.CreationInfo.Created != "1970-01-01T00:00:00Z" {
		t.Errorf("got created %s, want the fixed time", doc.CreationInfo.Created)
	}
}

// TestSBOMFlags: --no-sbom, --sbom-output, --sbom-copy and
// --sbom-current-time.
func TestSBOMFlags(t *testing.T) {
	f := sbomFixture(t)
	copyTo := filepath.Join(t.TempDir(), "host.spdx.json")
	tests := []struct {
		name    string
		mod     func(*Options)
		at      string // where the SBOM is in the image, "" for nowhere
		copy    bool
		created string
	}{
		{"default", nil, "sbom.spdx.json", false, "1970-01-01T00:00:00Z"},
		{"no-sbom", func(o *Options) { o.NoSBOM = true }, "", false, ""},
		{"sbom-output", func(o *Options) { o.SBOMOutput = "/keel.spdx.json" }, "keel.spdx.json", false, "1970-01-01T00:00:00Z"},
		{"sbom-copy", func(o *Options) { o.SBOMCopy = copyTo }, "sbom.spdx.json", true, "1970-01-01T00:00:00Z"},
		{"sbom-current-time", func(o *Options) { o.SBOMCurrentTime = true }, "sbom.spdx.json", false, "now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := f.run(t, t.TempDir(), tt.mod)
			if err != nil {
				t.Fatal(err)
			}
			files := readInitrd(t, res.Initrd)
			var found []string
			for name, e := range files {
				if strings.HasSuffix(name, ".spdx.json") && bytes.Contains(e.data, []byte("SPDX-2.3")) {
					found = append(found, name)
				}
			}
			if tt.at == "" {
				if len(found) != 0 {
					t.Errorf("got SBOMs at %v, want none", found)
				}
				return
			}
			if len(found) != 1 || found[0] != tt.at {
				t.Fatalf("got SBOMs at %v, want one at %s", found, tt.at)
			}
			body := files[tt.at].data
			if tt.copy {
				host, err := os.ReadFile(copyTo)
				if err != nil || !bytes.Equal(host, body) {
					t.Errorf("got host copy %d bytes (%v), want the image's %d bytes", len(host), err, len(body))
				}
			}
			doc, err := sbom.Parse(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			got := doc.CreationInfo.Created
			if tt.created == "now" {
				if strings.HasPrefix(got, "1970") {
					t.Errorf("got created %s, want the current time", got)
				}
			} else if got != tt.created {
				t.Errorf("got created %s, want %s", got, tt.created)
			}
		})
	}
}
