package spec

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const fullImage = `
onboot:
  - name: setup
    image: alpine:3.20
    timeout: 30s
    stopSignal: INT
services:
  - name: web
    image: nginx:1
    capabilities: [CAP_NET_BIND_SERVICE]
    capabilities.add: [CAP_CHOWN]
    ambient: [CAP_NET_BIND_SERVICE]
    mounts:
      - type: bind
        source: /a
        destination: /b
        options: [rbind, ro]
    binds: ["/etc/resolv.conf:/etc/resolv.conf"]
    binds.add: ["/var:/var:rshared,rbind"]
    devices:
      - {path: /dev/fuse, type: c, major: 10, minor: 229, mode: "0666"}
    tmpfs: ["/run:size=1m"]
    command: [nginx, -g, "daemon off;"]
    env: [A=1]
    cwd: /srv
    net: host
    pid: host
    ipc: new
    uts: new
    userns: host
    hostname: web1
    readonly: true
    maskedPaths: []
    readonlyPaths: [/proc/sys]
    uid: 101
    gid: nginx
    additionalGids: [1, wheel]
    noNewPrivileges: true
    oomScoreAdj: -500
    rootfsPropagation: shared
    cgroupsPath: /keel/web
    resources:
      memory: {limit: 1048576}
      pids: {limit: 64}
      cpu: {shares: 512, cpus: "0-1"}
    sysctl: {net.core.somaxconn: 1024}
    rlimits: ["nofile,1024,4096"]
    uidMappings: [{containerID: 0, hostID: 1000, size: 1}]
    annotations: {a: b}
    runtime:
      cgroups: [podruntime]
      mkdir: [/var/lib/web]
      interfaces: [{name: eth1, add: veth, peer: veth-web, createInRoot: true}]
      bindNS: {net: /run/netns/web}
      namespace: keel
    restart: on-failure:3
    dependsOn: [db]
    stopTimeout: 15s
    healthcheck: {test: [wget, -q, localhost], interval: 10s, retries: 3}
  - name: db
    image: postgres
`

func TestParseAllFields(t *testing.T) {
	s, err := Parse("dir/f.yml", []byte(head+fullImage))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Onboot) != 1 || len(s.Services) != 2 {
		t.Fatalf("got %d onboot and %d services, want 1 and 2", len(s.Onboot), len(s.Services))
	}
	web := s.Services[0]
	check := func(what string, got, want interface{}) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", what, got, want)
		}
	}
	check("pos", web.Pos, Position{File: "dir/f.yml", Line: 10, Column: 5})
	check("capabilities", *web.Capabilities, []string{"CAP_NET_BIND_SERVICE"})
	check("capabilities.add", *web.CapabilitiesAdd, []string{"CAP_CHOWN"})
	check("binds.add", *web.BindsAdd, []string{"/var:/var:rshared,rbind"})
	check("mount options", (*web.Mounts)[0].Options, []string{"rbind", "ro"})
	check("device", (*web.Devices)[0], Device{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, Mode: "0666"})
	check("command", *web.Command, []string{"nginx", "-g", "daemon off;"})
	check("maskedPaths is set and empty", *web.MaskedPaths, []string{})
	check("readonly", *web.Readonly, true)
	check("uid", *web.UID, interface{}(101))
	check("gid", *web.GID, interface{}("nginx"))
	check("additionalGids", *web.AdditionalGids, []interface{}{1, "wheel"})
	check("oomScoreAdj", *web.OOMScoreAdj, -500)
	check("memory limit", *web.Resources.Memory.Limit, int64(1048576))
	check("pids limit", *web.Resources.Pids.Limit, int64(64))
	check("cpus", web.Resources.CPU.Cpus, "0-1")
	check("sysctl (number read as text)", *web.Sysctl, map[string]string{"net.core.somaxconn": "1024"})
	check("uid mapping", (*web.UIDMappings)[0].HostID, uint32(1000))
	check("runtime interface", (*web.Runtime.Interfaces)[0], Interface{Name: "eth1", Add: "veth", Peer: "veth-web", CreateInRoot: true})
	check("bindNS", *web.Runtime.BindNS.Net, "/run/netns/web")
	check("restart", web.Restart, "on-failure:3")
	check("dependsOn", web.DependsOn, []string{"db"})
	check("healthcheck", *web.Healthcheck, Healthcheck{Test: []string{"wget", "-q", "localhost"}, Interval: "10s", Retries: 3})
	check("onboot timeout", s.Onboot[0].Timeout, "30s")
	// Absent optional fields stay nil so labels can fill them in.
	db := s.Services[1]
	if db.Capabilities != nil || db.Command != nil || db.Readonly != nil || db.Runtime != nil {
		t.Errorf("got non-nil optional fields on a bare entry: %+v", db)
	}
}

func TestParseEmptyAndNull(t *testing.T) {
	for _, in := range []string{"", "# just a comment\n", "---\n", "~\n"} {
		s, err := Parse("f.yml", []byte(in))
		if err != nil || s == nil {
			t.Errorf("Parse(%q): got %v, %v; want an empty spec", in, s, err)
		}
	}
	s, err := Parse("f.yml", []byte("kernel:\n  image: k\n  ucode: \"\"\nservices:\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Kernel.UCode == nil || *s.Kernel.UCode != "" || s.Kernel.Tar != nil {
		t.Errorf("got ucode %v tar %v, want an explicit empty ucode and no tar", s.Kernel.UCode, s.Kernel.Tar)
	}
	if s.Services != nil {
		t.Errorf("got services %v for a null section, want nil", s.Services)
	}
}

func TestParseTrustWarns(t *testing.T) {
	s, err := Parse("f.yml", []byte(head+"trust:\n  org: [linuxkit]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Warnings) != 1 || !strings.Contains(s.Warnings[0], "f.yml:4:3: the trust section is ignored") {
		t.Errorf("got warnings %q, want one about trust at f.yml:4:3", s.Warnings)
	}
}

func TestParseRewritesPkgRefs(t *testing.T) {
	in := "kernel:\n  image: \"@pkg:kernel\"\ninit: [\"@pkg:./init\", \"@pkg:/abs/x\", \"linuxkit/runc:v1\"]\n" +
		"services:\n  - name: a\n    image: \"@pkg:../pkgs/getty\"\n"
	s, err := Parse(filepath.Join("specs", "sys.yml"), []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"@pkg:specs/kernel", "@pkg:specs/init", "@pkg:/abs/x", "linuxkit/runc:v1", "@pkg:pkgs/getty"}
	if got := s.ImageRefs(); !reflect.DeepEqual(got, want) {
		t.Errorf("got refs %q, want %q", got, want)
	}
}

func TestParseExpandsHome(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip("no home directory")
	}
	s, err := Parse("f.yml", []byte("files:\n  - path: a\n    source: ~/.ssh/id.pub\n  - path: b\n    source: rel/x\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Files[0].Source, filepath.Join(home, ".ssh/id.pub"); got != want {
		t.Errorf("got source %q, want %q", got, want)
	}
	if got := s.Files[1].Source; got != "rel/x" {
		t.Errorf("got source %q, want it unchanged", got)
	}
}

func TestParseFileKinds(t *testing.T) {
	in := "files:\n  - path: /etc/empty\n    contents: \"\"\n  - path: etc/d\n    directory: true\n    mode: \"0755\"\n" +
		"  - path: etc/l\n    symlink: /x\n  - path: etc/m\n    metadata: yaml\n    uid: 0\n    gid: root\n"
	s, err := Parse("f.yml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if c := s.Files[0].Contents; c == nil || *c != "" {
		t.Errorf("got contents %v, want a pointer to an empty string", c)
	}
	if !s.Files[1].Directory || s.Files[1].Mode != "0755" || s.Files[2].Symlink != "/x" {
		t.Errorf("got %+v, want a 0755 directory then a symlink", s.Files[1:3])
	}
	if s.Files[3].UID != 0 || s.Files[3].GID != "root" {
		t.Errorf("got uid %#v gid %#v, want 0 and \"root\"", s.Files[3].UID, s.Files[3].GID)
	}
}

func TestMerge(t *testing.T) {
	a, err := Parse("a.yml", []byte("kernel:\n  image: k1\n  cmdline: c1\n  ucode: u.cpio\ninit: [i1]\n"+
		"onboot:\n  - {name: x, image: x1}\nservices:\n  - {name: s, image: s1}\nfiles:\n  - {path: a, contents: a}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("b.yml", []byte("kernel:\n  cmdline: c2\n  ucode: \"\"\ninit: [i2]\n"+
		"onboot:\n  - {name: x, image: x2}\nservices:\n  - {name: s, image: s2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	m := Merge(a, nil, b)
	if m.Kernel.Image != "k1" || m.Kernel.Cmdline != "c2" || m.Kernel.UCode == nil || *m.Kernel.UCode != "" {
		t.Errorf("got kernel %+v, want image k1, cmdline c2, ucode switched off", m.Kernel)
	}
	if got, want := m.ImageRefs(), []string{"k1", "i1", "i2", "x1", "x2", "s1", "s2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got refs %q, want %q", got, want)
	}
	if len(m.Files) != 1 {
		t.Errorf("got %d files, want 1", len(m.Files))
	}
	// Two onboot entries may share a name (their directories are
	// numbered); two services may not.
	err = m.Validate()
	want := `b.yml:8:5: duplicate service name "s" (first defined at a.yml:9:5); service names must be unique`
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
}

func TestMapImages(t *testing.T) {
	s, err := Parse("f.yml", []byte("kernel: {image: k}\ninit: [i]\nonshutdown:\n  - {name: o, image: o}\nservices:\n  - {name: s, image: s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	err = s.MapImages(func(ref string) (string, error) { return ref + "@sha256:x", nil })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"k@sha256:x", "i@sha256:x", "o@sha256:x", "s@sha256:x"}
	if got := s.ImageRefs(); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	calls := 0
	err = s.MapImages(func(ref string) (string, error) {
		calls++
		return "", os.ErrNotExist
	})
	if err != os.ErrNotExist || calls != 1 {
		t.Errorf("got %v after %d calls, want the first error after 1 call", err, calls)
	}
}

func TestParseLabel(t *testing.T) {
	img, err := ParseLabel("linuxkit/getty:1", []byte(`{"capabilities":["all"],"binds":["/etc/resolv.conf:/etc/resolv.conf"],"pid":"host","restart":"always","uid":0}`))
	if err != nil {
		t.Fatal(err)
	}
	if (*img.Capabilities)[0] != "all" || img.Pid != "host" || img.Restart != "always" || img.Name != "" {
		t.Errorf("got %+v, want the label's fields", img)
	}
	// Tabs are fine in JSON but not in YAML indentation.
	if _, err := ParseLabel("x", []byte("{\n\t\"net\": \"host\"\n}")); err != nil {
		t.Errorf("got %v for tab-indented JSON, want no error", err)
	}

	tests := []struct{ label, want string }{
		{`{"name":"x"}`, `x (org.mobyproject.config label):1:9: name cannot be set in an image label`},
		{`{"capabilities":["CAP_CHOWN"],"comand":["sh"]}`, `x (org.mobyproject.config label):1:31: unknown field "comand" (did you mean "command"?)`},
		{`["a"]`, `x (org.mobyproject.config label):1:1: the label must be a JSON object, got a list`},
		{`{"binds": "/a:/b"}`, `x (org.mobyproject.config label):1:11: binds: expected a list of strings, got a string ("/a:/b")`},
	}
	for _, tc := range tests {
		_, err := ParseLabel("x", []byte(tc.label))
		if err == nil || err.Error() != tc.want {
			t.Errorf("ParseLabel(%s): got %v, want %s", tc.label, err, tc.want)
		}
	}
}

func TestResolveVolumes(t *testing.T) {
	s, err := Parse("f.yml", []byte("volumes:\n  - name: data\n  - name: ro\n    readonly: true\n"+
		"services:\n  - name: a\n    image: b\n    binds: [\"data:/d\", \"/x:/y\"]\n    binds.add: [\"ro:/r:ro\"]\n"+
		"    mounts: [{type: bind, source: data, destination: /m}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	s.ResolveVolumes()
	a := s.Services[0]
	if got, want := *a.Binds, []string{"/containers/volumes/data/merged:/d", "/x:/y"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got binds %q, want %q", got, want)
	}
	if got, want := *a.BindsAdd, []string{"/containers/volumes/ro/merged:/r:ro"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got binds.add %q, want %q", got, want)
	}
	if got := (*a.Mounts)[0].Source; got != "/containers/volumes/data/merged" {
		t.Errorf("got mount source %q, want the volume directory", got)
	}
}
