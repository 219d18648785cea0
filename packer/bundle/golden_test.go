package bundle

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	kbundle "github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/packer/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Labels of LinuxKit's getty and sysctl packages (their build.yml config,
// as `linuxkit pkg build` writes it into org.mobyproject.config).
const (
	gettyLabel = `{"pid":"host","net":"host","binds":["/etc/resolv.conf:/etc/resolv.conf","/run:/run","/tmp:/tmp",` +
		`"/etc:/hostroot/etc","/usr/bin/ctr:/usr/bin/ctr","/usr/bin/runc:/usr/bin/runc","/containers:/containers",` +
		`"/var/log:/var/log","/var/lib/containerd:/var/lib/containerd","/dev:/dev","/sys:/sys"],` +
		`"devices":[{"path":"/dev/console","type":"c","major":5,"minor":1,"mode":"0666"},` +
		`{"path":"/dev/tty0","type":"c","major":4,"minor":0,"mode":"0666"},` +
		`{"path":"/dev/ttyS0","type":"c","major":4,"minor":64,"mode":"0666"},` +
		`{"path":"/dev/ttyAMA0","type":"c","major":204,"minor":64,"mode":"0666"}],"capabilities":["all"]}`
	sysctlLabel = `{"pid":"host","readonly":true,"capabilities":["CAP_SYS_ADMIN","CAP_NET_ADMIN"]}`
)

// TestGolden builds LinuxKit's getty service and sysctl onboot entries as
// linuxkit.yml writes them, with their real labels, and compares the whole
// config.json and keel.json with reviewed copies in testdata/.
func TestGolden(t *testing.T) {
	s, err := spec.Parse("linuxkit.yml", []byte(`
onboot:
  - name: sysctl
    image: linuxkit/sysctl:43ac1d39da329c3567fcb9689e5ca99de6d169b6
services:
  - name: getty
    image: linuxkit/getty:a86d74c8f89be8956330c3b115b0b1f2e09ef6e0
    env:
     - INSECURE=true
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		img   *spec.Image
		label string
		cfg   v1.Config
		phase kbundle.Phase
	}{
		{"sysctl", s.Onboot[0], sysctlLabel, v1.Config{
			Entrypoint: []string{"/usr/bin/sysctl"}, Cmd: []string{"-p", "/etc/sysctl.d"},
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		}, kbundle.PhaseOnboot},
		{"getty", s.Services[0], gettyLabel, v1.Config{
			Entrypoint: []string{"/sbin/tini", "/usr/bin/rungetty.sh"},
			Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		}, kbundle.PhaseService},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lbl, err := spec.ParseLabel(tc.img.Image, []byte(tc.label))
			if err != nil {
				t.Fatal(err)
			}
			oci, k, err := Config(tc.img, lbl, tc.cfg, tc.phase)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Marshal(oci)
			if err != nil {
				t.Fatal(err)
			}
			kj, err := kbundle.Marshal(k)
			if err != nil {
				t.Fatal(err)
			}
			got = append(append(got, "---\n"...), kj...)

			// Same input, same bytes.
			oci2, _, _ := Config(tc.img, lbl, tc.cfg, tc.phase)
			again, _ := Marshal(oci2)
			if !bytes.HasPrefix(got, again) {
				t.Error("got different config.json bytes from identical input")
			}
			var round map[string]interface{}
			if err := json.Unmarshal(again, &round); err != nil {
				t.Errorf("config.json is not valid JSON: %v", err)
			}

			file := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it, then review it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from what Config produced; got:\n%s", file, got)
			}
		})
	}
}

// TestLinuxKitExamples builds every container entry of LinuxKit's example
// specs with a stand-in image config: each must give a config without
// error, as it does with LinuxKit.
func TestLinuxKitExamples(t *testing.T) {
	files, _ := filepath.Glob("/work/shared/compat/linuxkit/examples/*.yml")
	if len(files) == 0 {
		t.Skip("LinuxKit examples not found")
	}
	cfg := v1.Config{Cmd: []string{"/bin/true"}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s, err := spec.Parse(f, data)
		if err != nil {
			continue // static-ip.yml; the spec package tests it
		}
		s.ResolveVolumes()
		for _, sec := range []struct {
			list  []*spec.Image
			phase kbundle.Phase
		}{{s.Onboot, kbundle.PhaseOnboot}, {s.Onshutdown, kbundle.PhaseOnshutdown}, {s.Services, kbundle.PhaseService}} {
			for _, img := range sec.list {
				if _, _, err := Config(img, nil, cfg, sec.phase); err != nil {
					t.Errorf("%s: %v", filepath.Base(f), err)
				}
			}
		}
	}
}
