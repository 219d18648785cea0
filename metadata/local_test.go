package metadata

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/internal/cidata"
)

func TestCloudConfigSubset(t *testing.T) {
	ud := "#cloud-config\nhostname: cc-host\nssh_authorized_keys: [ssh-ed25519 AAAAcc]\n" +
		"write_files:\n" +
		"  - {path: /run/config/app/conf, content: a, permissions: '0640'}\n" +
		"  - {path: /var/lib/app/x, content: aGVsbG8=, encoding: b64}\n" +
		"  - {path: /etc/passwd, content: evil}\n" +
		"  - {path: /run/config/../../etc/x, content: evil}\n" +
		"  - {path: /run/config/provider, content: evil}\n" +
		"  - {path: /var/y, content: z, owner: 'nobody:nogroup'}\n" +
		"runcmd: [reboot]\npackages: [nginx]\n"
	p := MakePlan(&Data{Provider: "File", SSHKeys: []string{"ssh-rsa AAAAprov"}, Userdata: []byte(ud)}, DefaultLimits)
	if p.Hostname != "cc-host" {
		t.Errorf("hostname: got %q, want cc-host", p.Hostname)
	}
	var keys, conf string
	for _, e := range p.Config {
		switch e.Path {
		case "ssh/authorized_keys":
			keys = string(e.Content)
		case "app/conf":
			conf = e.Mode.String() + " " + string(e.Content)
		}
	}
	if keys != "ssh-rsa AAAAprov\nssh-ed25519 AAAAcc\n" {
		t.Errorf("authorized_keys: got %q, want the provider's key then cloud-config's", keys)
	}
	if conf != "-rw-r----- a" {
		t.Errorf("app/conf: got %q", conf)
	}
	if len(p.Var) != 1 || p.Var[0].Path != "lib/app/x" || string(p.Var[0].Content) != "hello" {
		t.Errorf("var files: got %+v, want lib/app/x = hello", p.Var)
	}
	notes := strings.Join(p.Notes, "\n")
	for _, want := range []string{"runcmd is not supported", "packages is not supported", "/etc/passwd: skipped",
		"/run/config/../../etc/x: skipped", "/run/config/provider: skipped", "/var/y: skipped"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes lack %q:\n%s", want, notes)
		}
	}
}

// fake is a Provider with a fixed probe answer.
type fake struct {
	name  string
	local bool
	s     Strength
	err   error
	calls int
}

func (f *fake) Name() string { return f.name }
func (f *fake) Local() bool  { return f.local }
func (f *fake) Probe(ctx context.Context) (Strength, error) {
	f.calls++
	return f.s, f.err
}
func (f *fake) Fetch(ctx context.Context) (*Data, error) { return &Data{Provider: f.name}, nil }

func TestChooser(t *testing.T) {
	down := errors.New("connect: network is unreachable")
	notHere := &StatusError{Code: 404}
	cases := []struct {
		name  string
		ps    []*fake
		want  string
		tries map[string]int
	}{
		{"local beats network", []*fake{{name: "fw", local: true, s: Strong}, {name: "aws", s: Strong}}, "fw", nil},
		{"local order", []*fake{{name: "a", local: true, err: notHere}, {name: "b", local: true, s: Strong}, {name: "c", local: true, s: Strong}}, "b", nil},
		{"strong beats earlier weak", []*fake{{name: "aws", s: Weak}, {name: "openstack", s: Strong}}, "openstack", nil},
		{"weak when nothing else", []*fake{{name: "hetzner", err: notHere}, {name: "aws", s: Weak}}, "aws", nil},
		{"retries unreachable, not 404", []*fake{{name: "x", err: down}, {name: "y", err: notHere}, {name: "aws", s: Weak}}, "aws",
			map[string]int{"x": 3, "y": 1}},
		{"none", []*fake{{name: "x", err: notHere}}, "", nil},
	}
	for _, c := range cases {
		var ps []Provider
		for _, p := range c.ps {
			ps = append(ps, p)
		}
		ch := &Chooser{Providers: ps, Timing: Timing{Attempt: time.Second, Tries: 3, Backoff: time.Millisecond, Fetch: time.Second}}
		p, _, err := ch.Choose(context.Background())
		got := ""
		if p != nil {
			got = p.Name()
		}
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("%s: chose %q (err %v), want %q", c.name, got, err, c.want)
		}
		for _, f := range c.ps {
			if n, ok := c.tries[f.name]; ok && f.calls != n {
				t.Errorf("%s: %s probed %d times, want %d", c.name, f.name, f.calls, n)
			}
		}
	}
}

func TestSelection(t *testing.T) {
	cases := []struct{ cmdline, want string }{
		{"console=ttyS0 quiet", ""},
		{"keel.metadata=aws console=ttyS0", "aws"},
		{"keel.metadata=file=/etc/ud keel.metadata=nocloud", "nocloud"},
	}
	for _, c := range cases {
		if got := Selection(c.cmdline); got != c.want {
			t.Errorf("Selection(%q): got %q, want %q", c.cmdline, got, c.want)
		}
	}
	ps, err := Providers("file=/x,aws=http://10.0.2.2:8080", DefaultEnv(), DefaultLimits, nil)
	if err != nil || len(ps) != 2 || ps[1].(*AWS).Base != "http://10.0.2.2:8080" {
		t.Errorf("Providers: got %v, %v", ps, err)
	}
	if _, err := Providers("nosuch", DefaultEnv(), DefaultLimits, nil); err == nil {
		t.Error("Providers(nosuch): no error")
	}
}

func TestNoCloudSeedDir(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "user-data"), []byte("#cloud-config\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "meta-data"), []byte("instance-id: iid-1\nlocal-hostname: seed-host\npublic-keys:\n  k1: ssh-rsa AAAA1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "network-config"), []byte("version: 2\n"), 0o644)
	os.Symlink("/etc/shadow", filepath.Join(dir, "config"))
	p := &NoCloud{Seed: dir, Limit: 1 << 20}
	d, err := p.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := &Data{Provider: "NoCloud", Hostname: "seed-host", SSHKeys: []string{"ssh-rsa AAAA1"}, Userdata: []byte("#cloud-config\n"),
		Files: map[string]string{"instance_id": "iid-1", "network-config": "version: 2\n"}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("got %+v, want %+v", d, want)
	}
	// Only LinuxKit's "config", and it is a symlink out: refused.
	os.Remove(filepath.Join(dir, "user-data"))
	os.Remove(filepath.Join(dir, "meta-data"))
	if _, err := (&NoCloud{Seed: dir, Limit: 1 << 20}).Fetch(context.Background()); err == nil {
		t.Error("a seed whose config is a symlink out of the medium was read")
	}
}

func TestFwCfgDir(t *testing.T) {
	dir := t.TempDir()
	for item, v := range map[string]string{"userdata": "{}", "hostname": "fw-host\n", "ssh_authorized_keys": "ssh-rsa AAAAfw\n"} {
		os.MkdirAll(filepath.Join(dir, item), 0o755)
		os.WriteFile(filepath.Join(dir, item, "raw"), []byte(v), 0o644)
	}
	p := &FwCfg{Dir: dir, Limit: 1 << 20}
	if s, err := p.Probe(context.Background()); s != Strong || err != nil {
		t.Fatalf("Probe: got %v, %v", s, err)
	}
	d, err := p.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Hostname != "fw-host" || string(d.Userdata) != "{}" || len(d.SSHKeys) != 1 {
		t.Errorf("got %+v", d)
	}
	if s, _ := (&FwCfg{Dir: filepath.Join(dir, "none"), Limit: 1}).Probe(context.Background()); s != Absent {
		t.Errorf("missing dir: got %v, want absent", s)
	}
}

func TestCidataISOLabel(t *testing.T) {
	var buf bytes.Buffer
	if err := cidata.WriteISO(&buf, cidata.Label, cidata.Seed([]byte("ud"), "i", "h")); err != nil {
		t.Fatal(err)
	}
	v := ReadVolume(bytes.NewReader(buf.Bytes()))
	if v.FSType != "iso9660" || !v.HasLabel("cidata") || len(v.Labels) != 2 {
		t.Errorf("got %+v, want iso9660 with primary and Joliet label cidata", v)
	}
	if v := ReadVolume(bytes.NewReader(make([]byte, 64<<10))); v.FSType != "" {
		t.Errorf("zeros: got %+v, want nothing", v)
	}
	fat := make([]byte, 512)
	fat[38], fat[510], fat[511] = 0x29, 0x55, 0xAA
	copy(fat[43:], "CIDATA     FAT12   ")
	if v := ReadVolume(bytes.NewReader(fat)); v.FSType != "vfat" || !v.HasLabel("CIDATA") {
		t.Errorf("FAT: got %+v", v)
	}
}
