package bundle

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	kbundle "github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/packer/spec"
)

// entry parses one image entry written as the body of a services (or
// onboot) list item, so tests read like the YAML users write.
func entry(t *testing.T, section, body string) *spec.Image {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(body), "\n")
	y := section + ":\n  - name: x\n    image: img\n"
	for _, l := range lines {
		if l != "" {
			y += "    " + l + "\n"
		}
	}
	s, err := spec.Parse("t.yml", []byte(y))
	if err != nil {
		t.Fatalf("parsing test entry: %v\n%s", err, y)
	}
	switch section {
	case "onboot":
		return s.Onboot[0]
	case "onshutdown":
		return s.Onshutdown[0]
	}
	return s.Services[0]
}

func label(t *testing.T, js string) *spec.Image {
	t.Helper()
	if js == "" {
		return nil
	}
	l, err := spec.ParseLabel("img", []byte(js))
	if err != nil {
		t.Fatalf("parsing test label: %v", err)
	}
	return l
}

var baseCfg = v1.Config{
	Entrypoint: []string{"/bin/app"},
	Cmd:        []string{"--serve"},
	Env:        []string{"PATH=/usr/bin:/bin"},
	WorkingDir: "/srv",
}

func mountAt(s *specs.Spec, dest string) *specs.Mount {
	for i := range s.Mounts {
		if s.Mounts[i].Destination == dest {
			return &s.Mounts[i]
		}
	}
	return nil
}

func nsTypes(s *specs.Spec) []string {
	var out []string
	for _, ns := range s.Linux.Namespaces {
		t := string(ns.Type)
		if ns.Path != "" {
			t += "=" + ns.Path
		}
		out = append(out, t)
	}
	return out
}

func TestConfigFields(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		label string
		cfg   *v1.Config
		check func(t *testing.T, s *specs.Spec)
	}{
		{name: "defaults follow LinuxKit", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "args", s.Process.Args, []string{"/bin/app", "--serve"})
			eq(t, "env", s.Process.Env, []string{"PATH=/usr/bin:/bin"})
			eq(t, "cwd", s.Process.Cwd, "/srv")
			eq(t, "root", *s.Root, specs.Root{Path: "rootfs"})
			eq(t, "terminal", s.Process.Terminal, false)
			eq(t, "user", s.Process.User, specs.User{})
			eq(t, "namespaces", nsTypes(s), []string{"pid", "mount", "cgroup"})
			var dests []string
			for _, m := range s.Mounts {
				dests = append(dests, m.Destination)
			}
			eq(t, "mounts", dests, []string{"/dev", "/dev/pts", "/proc", "/sys", "/sys/fs/cgroup"})
			eq(t, "capabilities", *s.Process.Capabilities, specs.LinuxCapabilities{})
			eq(t, "version", s.Version, specs.Version)
		}},
		{name: "command replaces entrypoint and cmd", yaml: "command: [/bin/sh, -c, true]", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "args", s.Process.Args, []string{"/bin/sh", "-c", "true"})
		}},
		{name: "label command beats image", label: `{"command":["/l"]}`, check: func(t *testing.T, s *specs.Spec) {
			eq(t, "args", s.Process.Args, []string{"/l"})
		}},
		{name: "yaml command beats label", yaml: "command: [/y]", label: `{"command":["/l"]}`, check: func(t *testing.T, s *specs.Spec) {
			eq(t, "args", s.Process.Args, []string{"/y"})
		}},
		{name: "env replaces the image env", yaml: "env: [A=1]", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "env", s.Process.Env, []string{"A=1"})
		}},
		{name: "explicitly empty env clears the label's", yaml: "env: []", label: `{"env":["L=1"]}`, check: func(t *testing.T, s *specs.Spec) {
			eq(t, "env", len(s.Process.Env), 0)
		}},
		{name: "cwd: label beats image, yaml beats label", yaml: "cwd: /y", label: `{"cwd":"/l"}`, check: func(t *testing.T, s *specs.Spec) {
			eq(t, "cwd", s.Process.Cwd, "/y")
		}},
		{name: "cwd defaults to /", cfg: &v1.Config{Cmd: []string{"x"}}, check: func(t *testing.T, s *specs.Spec) {
			eq(t, "cwd", s.Process.Cwd, "/")
		}},
		{name: "readonly makes /dev and /sys read-only too", yaml: "readonly: true", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "root readonly", s.Root.Readonly, true)
			eq(t, "/dev options", mountAt(s, "/dev").Options, []string{"nosuid", "strictatime", "mode=755", "size=65536k", "ro"})
			eq(t, "/sys options", mountAt(s, "/sys").Options, []string{"nosuid", "noexec", "nodev", "ro"})
		}},
		{name: "label readonly, yaml false wins", yaml: "readonly: false", label: `{"readonly":true}`, check: func(t *testing.T, s *specs.Spec) {
			eq(t, "root readonly", s.Root.Readonly, false)
		}},
		{name: "binds", yaml: "binds: [\"/a:/b\", \"/var:/var:rshared,rbind\", \"/etc/x:/etc/x:ro\"]", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "/b", *mountAt(s, "/b"), specs.Mount{Destination: "/b", Type: "bind", Source: "/a", Options: []string{"rw", "rbind", "rshared"}})
			eq(t, "/var", mountAt(s, "/var").Options, []string{"rshared", "rbind", "rbind"})
			eq(t, "/etc/x", mountAt(s, "/etc/x").Options, []string{"ro", "rbind", "rro", "rprivate"})
		}},
		{name: "/sys is read-only by default", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "/sys options", mountAt(s, "/sys").Options, []string{"nosuid", "noexec", "nodev", "ro"})
			eq(t, "/dev options", mountAt(s, "/dev").Options, []string{"nosuid", "strictatime", "mode=755", "size=65536k"})
		}},
		{name: "/sys is read-only with CAP_SYS_ADMIN", yaml: "capabilities: [CAP_SYS_ADMIN]", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "/sys options", mountAt(s, "/sys").Options, []string{"nosuid", "noexec", "nodev", "ro"})
		}},
		{name: "/sys is writable when privileged", label: `{"capabilities":["all"]}`, check: func(t *testing.T, s *specs.Spec) {
			eq(t, "/sys options", mountAt(s, "/sys").Options, []string{"nosuid", "noexec", "nodev"})
		}},
		{name: "privileged and readonly keeps /sys read-only", yaml: "capabilities: [all]\nreadonly: true", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "/sys options", mountAt(s, "/sys").Options, []string{"nosuid", "noexec", "nodev", "ro"})
		}},
		{name: "an explicit bind makes /sys writable", yaml: "binds: [\"/sys:/sys\"]", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "/sys", *mountAt(s, "/sys"), specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys", Options: []string{"rw", "rbind", "rshared"}})
		}},
		{name: "ro on a recursive bind is recursive everywhere", yaml: "binds.add: [\"/:/host:ro,rslave\"]\nmounts:\n  - {type: bind, source: /var, destination: /v, options: [rbind, ro, nosuid]}\n  - {type: bind, source: /etc, destination: /e, options: [bind, ro]}",
			label: `{"binds":["/run:/run:ro,nodev,noexec"]}`, check: func(t *testing.T, s *specs.Spec) {
				eq(t, "/host", mountAt(s, "/host").Options, []string{"ro", "rslave", "rbind", "rro"})
				eq(t, "/run", mountAt(s, "/run").Options, []string{"ro", "nodev", "noexec", "rbind", "rro", "rnodev", "rnoexec", "rprivate"})
				eq(t, "/v", mountAt(s, "/v").Options, []string{"rbind", "ro", "nosuid", "rro", "rnosuid", "rprivate"})
				eq(t, "/e (not recursive)", mountAt(s, "/e").Options, []string{"bind", "ro"})
			}},
		{name: "binds.add extends the label's binds", yaml: "binds.add: [\"/c:/c\"]", label: `{"binds":["/a:/a"]}`, check: func(t *testing.T, s *specs.Spec) {
			if mountAt(s, "/a") == nil || mountAt(s, "/c") == nil {
				t.Errorf("got mounts %v, want /a from the label and /c from binds.add", s.Mounts)
			}
		}},
		{name: "binds replaces the label's binds", yaml: "binds: [\"/c:/c\"]", label: `{"binds":["/a:/a"]}`, check: func(t *testing.T, s *specs.Spec) {
			if mountAt(s, "/a") != nil || mountAt(s, "/c") == nil {
				t.Errorf("got mounts %v, want only /c", s.Mounts)
			}
		}},
		{name: "empty binds clears the label's binds", yaml: "binds: []", label: `{"binds":["/a:/a"]}`, check: func(t *testing.T, s *specs.Spec) {
			eq(t, "mounts", len(s.Mounts), 5)
		}},
		{name: "tmpfs", yaml: "tmpfs: [\"/run:size=1m,mode=0755\", /tmp]", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "/run", *mountAt(s, "/run"), specs.Mount{Destination: "/run", Type: "tmpfs", Source: "tmpfs", Options: []string{"size=1m", "mode=0755"}})
			eq(t, "/tmp", mountAt(s, "/tmp").Type, "tmpfs")
		}},
		{name: "relative destinations start at the container's root, as in LinuxKit", yaml: "binds: [\"/etc:host-etc:ro\"]\ntmpfs: [scratch]\nmounts:\n  - {type: bind, source: /etc, destination: writeable-host-etc, options: [rbind, rw]}", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "/host-etc source", mountAt(s, "/host-etc") != nil && mountAt(s, "/host-etc").Source == "/etc", true)
			eq(t, "/scratch type", mountAt(s, "/scratch") != nil && mountAt(s, "/scratch").Type == "tmpfs", true)
			eq(t, "/writeable-host-etc", *mountAt(s, "/writeable-host-etc"), specs.Mount{Destination: "/writeable-host-etc", Type: "bind", Source: "/etc", Options: []string{"rbind", "rw"}})
		}},
		{name: "a lone all in capabilities.add grants every capability, as in LinuxKit", yaml: "capabilities.add: [all]", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "bounding", s.Process.Capabilities.Bounding, spec.AllCapabilities())
		}},
		{name: "mounts replace defaults and infer type", yaml: "mounts:\n  - {destination: /dev, options: [rw]}\n  - {source: mqueue}", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "/dev", *mountAt(s, "/dev"), specs.Mount{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"rw"}})
			eq(t, "/dev/mqueue", mountAt(s, "/dev/mqueue").Type, "mqueue")
		}},
		{name: "capabilities sorted", yaml: "capabilities: [CAP_SYS_ADMIN, CAP_CHOWN]", check: func(t *testing.T, s *specs.Spec) {
			want := []string{"CAP_CHOWN", "CAP_SYS_ADMIN"}
			c := s.Process.Capabilities
			eq(t, "effective", c.Effective, want)
			eq(t, "bounding", c.Bounding, want)
			eq(t, "permitted", c.Permitted, want)
			eq(t, "inheritable", c.Inheritable, want)
			eq(t, "ambient", len(c.Ambient), 0)
		}},
		{name: "capabilities all", yaml: "capabilities: [all]", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "bounding", s.Process.Capabilities.Bounding, spec.AllCapabilities())
		}},
		{name: "capabilities none beats label", yaml: "capabilities: [none]", label: `{"capabilities":["all"]}`, check: func(t *testing.T, s *specs.Spec) {
			eq(t, "bounding", len(s.Process.Capabilities.Bounding), 0)
		}},
		{name: "empty capabilities clear the label's", yaml: "capabilities: []", label: `{"capabilities":["CAP_CHOWN"]}`, check: func(t *testing.T, s *specs.Spec) {
			eq(t, "bounding", len(s.Process.Capabilities.Bounding), 0)
		}},
		{name: "label capabilities apply when yaml is silent", label: `{"capabilities":["CAP_CHOWN"]}`, check: func(t *testing.T, s *specs.Spec) {
			eq(t, "effective", s.Process.Capabilities.Effective, []string{"CAP_CHOWN"})
		}},
		{name: "capabilities.add extends the label's", yaml: "capabilities.add: [CAP_NET_ADMIN, CAP_CHOWN]", label: `{"capabilities":["CAP_CHOWN"]}`, check: func(t *testing.T, s *specs.Spec) {
			eq(t, "effective", s.Process.Capabilities.Effective, []string{"CAP_CHOWN", "CAP_NET_ADMIN"})
		}},
		{name: "ambient joins the bounding set", yaml: "capabilities: [CAP_CHOWN]\nambient: [CAP_NET_BIND_SERVICE]", check: func(t *testing.T, s *specs.Spec) {
			c := s.Process.Capabilities
			eq(t, "effective", c.Effective, []string{"CAP_CHOWN"})
			eq(t, "ambient", c.Ambient, []string{"CAP_NET_BIND_SERVICE"})
			eq(t, "bounding", c.Bounding, []string{"CAP_CHOWN", "CAP_NET_BIND_SERVICE"})
		}},
		{name: "namespaces", yaml: "net: new\nipc: new\nuts: /proc/1/ns/uts\npid: host\nuserns: new", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "namespaces", nsTypes(s), []string{"network", "ipc", "uts=/proc/1/ns/uts", "user", "mount", "cgroup"})
		}},
		{name: "net none is a new empty namespace", yaml: "net: none", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "namespaces", nsTypes(s), []string{"network", "pid", "mount", "cgroup"})
		}},
		{name: "label namespaces, yaml host wins", yaml: "pid: host", label: `{"pid":"new","net":"/run/netns/x"}`, check: func(t *testing.T, s *specs.Spec) {
			eq(t, "namespaces", nsTypes(s), []string{"network=/run/netns/x", "mount", "cgroup"})
		}},
		{name: "hostname with its own uts", yaml: "uts: new\nhostname: box", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "hostname", s.Hostname, "box")
		}},
		{name: "user ids", yaml: "uid: 100\ngid: 101\nadditionalGids: [5, 6]", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "user", s.Process.User, specs.User{UID: 100, GID: 101, AdditionalGids: []uint32{5, 6}})
		}},
		{name: "root by name", yaml: "uid: root\ngid: root", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "user", s.Process.User, specs.User{})
		}},
		{name: "process settings", yaml: "noNewPrivileges: true\noomScoreAdj: -100\nrlimits: [\"nofile,10,20\"]", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "noNewPrivileges", s.Process.NoNewPrivileges, true)
			eq(t, "oomScoreAdj", *s.Process.OOMScoreAdj, -100)
			eq(t, "rlimits", s.Process.Rlimits, []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 10, Hard: 20}})
		}},
		{name: "linux settings", yaml: "sysctl: {net.ipv4.ip_forward: 1}\nmaskedPaths: [/proc/kcore]\nreadonlyPaths: [/proc/sys]\n" +
			"rootfsPropagation: shared\ncgroupsPath: /keel/x\nannotations: {k: v}\nuidMappings: [{containerID: 0, hostID: 1000, size: 10}]",
			check: func(t *testing.T, s *specs.Spec) {
				l := s.Linux
				eq(t, "sysctl", l.Sysctl, map[string]string{"net.ipv4.ip_forward": "1"})
				eq(t, "maskedPaths", l.MaskedPaths, []string{"/proc/kcore"})
				eq(t, "readonlyPaths", l.ReadonlyPaths, []string{"/proc/sys"})
				eq(t, "rootfsPropagation", l.RootfsPropagation, "shared")
				eq(t, "cgroupsPath", l.CgroupsPath, "/keel/x")
				eq(t, "annotations", s.Annotations, map[string]string{"k": "v"})
				eq(t, "uidMappings", l.UIDMappings, []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 10}})
			}},
		{name: "devices", yaml: "devices:\n  - {path: /dev/fuse, type: c, major: 10, minor: 229, mode: 0666}\n  - {path: all, type: b}", check: func(t *testing.T, s *specs.Spec) {
			if len(s.Linux.Devices) != 1 {
				t.Fatalf("got devices %v, want one", s.Linux.Devices)
			}
			d := s.Linux.Devices[0]
			if d.Path != "/dev/fuse" || d.Type != "c" || d.Major != 10 || d.Minor != 229 || *d.FileMode != 0o666 {
				t.Errorf("got device %+v mode %o, want /dev/fuse c 10:229 0666", d, *d.FileMode)
			}
			rules := s.Linux.Resources.Devices
			if len(rules) != 2 || *rules[0].Major != 10 || *rules[0].Minor != 229 || rules[0].Access != "rwm" || !rules[0].Allow ||
				rules[1].Type != "b" || rules[1].Major != nil {
				t.Errorf("got device rules %+v, want allow c 10:229 rwm then allow all b", rules)
			}
		}},
		{name: "resources", yaml: "resources: {memory: {limit: 1000}, pids: {limit: 10}}", check: func(t *testing.T, s *specs.Spec) {
			eq(t, "memory", *s.Linux.Resources.Memory.Limit, int64(1000))
			eq(t, "pids", *s.Linux.Resources.Pids.Limit, int64(10))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseCfg
			if tc.cfg != nil {
				cfg = *tc.cfg
			}
			s, _, err := Config(entry(t, "services", tc.yaml), label(t, tc.label), cfg, kbundle.PhaseService)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, label, want string
		cfg                     *v1.Config
		opts                    []Option
		img                     *spec.Image // instead of yaml, for entries Parse rejects
	}{
		{name: "nothing to run", cfg: &v1.Config{}, want: `service "x": nothing to run`},
		{name: "empty command", yaml: "command: []", want: `service "x": nothing to run`},
		{name: "hostname on the host uts", yaml: "hostname: box", want: `service "x": hostname "box" needs its own UTS namespace: add uts: new`},
		{name: "volume bind not resolved", img: &spec.Image{Name: "x", Image: "img", Binds: &[]string{"data:/d"}}, want: `service "x": bind "data:/d": source "data" is not an absolute path`},
		{name: "user name without passwd", yaml: "uid: nginx", want: `service "x": uid "nginx": not a container of this spec (none: the spec has no containers); a user name needs the image's /etc/passwd; use a number`},
		{name: "unknown user name", yaml: "uid: nginx", opts: []Option{WithIDs(map[string]uint32{"www": 33}, nil), WithContainerIDs(map[string]uint32{"x": 100})},
			want: `service "x": uid "nginx": neither a container of this spec (x) nor a name in the image's /etc/passwd`},
		{name: "id source fails", yaml: "gid: nginx", opts: []Option{WithIDSource(func() (map[string]uint32, map[string]uint32, error) { return nil, nil, errors.New("broken layer") })},
			want: `service "x": gid "nginx": broken layer`},
		{name: "bad label capability", label: `{"capabilities":["all"]}`, yaml: "capabilities.add: [CAP_CHOWN]", want: `service "x": capability "all" must stand alone, but the image label's capabilities and capabilities.add merge into [all CAP_CHOWN]`},
		{name: "bad stop signal in image config", cfg: &v1.Config{Cmd: []string{"x"}, StopSignal: "SIGNOPE"}, want: `service "x": stopSignal: unknown signal "SIGNOPE"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := baseCfg
			if tc.cfg != nil {
				cfg = *tc.cfg
			}
			img := tc.img
			if img == nil {
				img = entry(t, "services", tc.yaml)
			}
			_, _, err := Config(img, label(t, tc.label), cfg, kbundle.PhaseService, tc.opts...)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("got %v, want an error starting with %s", err, tc.want)
			}
		})
	}
	if _, _, err := Config(nil, nil, baseCfg, kbundle.PhaseService); err == nil {
		t.Error("got no error for a nil entry")
	}
	if _, _, err := Config(entry(t, "services", ""), nil, baseCfg, "later"); err == nil {
		t.Error("got no error for an unknown phase")
	}
}

func TestConfigUserNames(t *testing.T) {
	users := ParseIDs([]byte("root:x:0:0:root:/root:/bin/sh\n# comment\nbroken\nnginx:x:101:101::/:/sbin/nologin\n"))
	groups := ParseIDs([]byte("root:x:0:\nnginx:x:102:\nwheel:x:10:root\n"))
	img := entry(t, "services", "uid: nginx\ngid: nginx\nadditionalGids: [wheel, 7]")
	s, _, err := Config(img, nil, baseCfg, kbundle.PhaseService, WithIDs(users, groups))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "user", s.Process.User, specs.User{UID: 101, GID: 102, AdditionalGids: []uint32{10, 7}})
}

// TestConfigContainerIDs: LinuxKit's names for the ids it allocates to
// containers win over the image's users; other names come from the image,
// read only when one is needed.
func TestConfigContainerIDs(t *testing.T) {
	loads := 0
	source := func() (map[string]uint32, map[string]uint32, error) {
		loads++
		return map[string]uint32{"redis": 999, "www": 33}, map[string]uint32{"adm": 4}, nil
	}
	ids := WithContainerIDs(map[string]uint32{"redis": 104, "sysctl": 100})
	for _, tc := range []struct {
		yaml      string
		want      specs.User
		wantLoads int
	}{
		{"uid: redis\ngid: redis\nadditionalGids: [sysctl, 7]", specs.User{UID: 104, GID: 104, AdditionalGids: []uint32{100, 7}}, 0},
		{"uid: www\ngid: adm", specs.User{UID: 33, GID: 4}, 1},
	} {
		loads = 0
		s, _, err := Config(entry(t, "services", tc.yaml), nil, baseCfg, kbundle.PhaseService, ids, WithIDSource(source))
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		eq(t, "user", s.Process.User, tc.want)
		if loads != tc.wantLoads {
			t.Errorf("%q: image ids read %d times, want %d", tc.yaml, loads, tc.wantLoads)
		}
	}
}

func TestConfigLeavesInputsAlone(t *testing.T) {
	img := entry(t, "services", "resources: {pids: {limit: 5}}\ndevices:\n  - {path: /dev/fuse, type: c, major: 10, minor: 229, mode: \"0600\"}")
	if _, _, err := Config(img, nil, baseCfg, kbundle.PhaseService); err != nil {
		t.Fatal(err)
	}
	if n := len(img.Resources.Devices); n != 0 {
		t.Errorf("got %d device rules added to the input resources, want 0", n)
	}
}

func TestKeel(t *testing.T) {
	svc := entry(t, "services", "restart: on-failure:3\nstopSignal: INT\nstopTimeout: 20s\n"+
		"runtime:\n  mkdir: [/var/x]\n  bindNS: {net: /run/netns/x}\n  interfaces: [{name: eth1, add: veth, peer: p}]")
	svc.DependsOn = []string{"db"} // Parse would want a db service
	lbl := label(t, `{"runtime":{"mkdir":["/var/label"],"cgroups":["podruntime"],"namespace":"keel"},"restart":"always"}`)
	_, k, err := Config(svc, lbl, baseCfg, kbundle.PhaseService)
	if err != nil {
		t.Fatal(err)
	}
	want := &kbundle.Keel{
		Version: kbundle.Version, Name: "x", Phase: kbundle.PhaseService, Image: "img",
		Restart: "on-failure:3", DependsOn: []string{"db"}, StopSignal: "SIGINT",
		StopTimeout: kbundle.Duration(20 * time.Second),
		Runtime: &kbundle.Runtime{
			Cgroups: []string{"podruntime"}, Mkdir: []string{"/var/x"}, Namespace: "keel",
			Interfaces: []kbundle.Interface{{Name: "eth1", Add: "veth", Peer: "p"}},
			BindNS:     kbundle.BindNS{Net: "/run/netns/x"},
		},
	}
	eq(t, "keel", k, want)

	// A service label's restart does not leak into an onboot use of the
	// image; the image's STOPSIGNAL is the last fallback.
	ob := entry(t, "onboot", "timeout: 1m")
	cfg := baseCfg
	cfg.StopSignal = "SIGQUIT"
	_, k, err = Config(ob, lbl, cfg, kbundle.PhaseOnboot)
	if err != nil {
		t.Fatal(err)
	}
	if k.Restart != "" || k.Timeout != kbundle.Duration(time.Minute) || k.StopSignal != "SIGQUIT" || k.Phase != kbundle.PhaseOnboot {
		t.Errorf("got %+v, want no restart, a 1m timeout, SIGQUIT, phase onboot", k)
	}
	_, k, err = Config(entry(t, "services", ""), nil, baseCfg, kbundle.PhaseService)
	if err != nil || k.Runtime != nil {
		t.Errorf("got runtime %+v, %v; want nil when nothing is set", k.Runtime, err)
	}
}

func eq(t *testing.T, what string, got, want interface{}) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %#v, want %#v", what, got, want)
	}
}
