package spec

import (
	"strings"
	"testing"
)

// head is a minimal valid start for specs in the tables below; the lines
// of each case body therefore start at line 3.
const head = "kernel:\n  image: k\n"

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // every error line, exactly, in order
	}{
		{"yaml syntax", "kernel:\n  image: k\n\tcmdline: x\n",
			[]string{"f.yml:2: invalid YAML: found a tab character that violates indentation (check the indentation on and above this line)"}},
		{"two documents", head + "---\ninit: []\n",
			[]string{"f.yml:3:1: a second YAML document starts here; a spec file holds one document (remove the '---' or split the file)"}},
		{"not a mapping", "- a\n- b\n",
			[]string{"f.yml:1:1: a spec must be a mapping (kernel:, init:, services: ...), got a list"}},
		{"unknown top-level field", head + "servics: []\n",
			[]string{`f.yml:3:1: unknown field "servics" (did you mean "services"?)`}},
		{"unknown image field", head + "services:\n  - name: a\n    image: b\n    comand: [x]\n",
			[]string{`f.yml:6:5: unknown field "comand" in services[0] (did you mean "command"?)`}},
		{"unknown field without suggestion", head + "services:\n  - name: a\n    image: b\n    zzzzzzz: 1\n",
			[]string{`f.yml:6:5: unknown field "zzzzzzz" in services[0]`}},
		{"unknown kernel field", head + "  cmdln: x\n",
			[]string{`f.yml:3:3: unknown field "cmdln" in kernel (did you mean "cmdline"?)`}},
		{"duplicate key", head + "services:\n  - name: a\n    image: b\n    name: c\n",
			[]string{`f.yml:6:5: services[0]: field "name" is given twice`}},
		{"string instead of list", head + "services:\n  - name: a\n    image: b\n    command: sh -c\n",
			[]string{`f.yml:6:14: services[0].command: expected a list of strings, got a string ("sh -c")`}},
		{"list instead of string", head + "services:\n  - name: a\n    image: [b]\n",
			[]string{`f.yml:5:12: services[0].image: expected a string, got a list`}},
		{"yes is not a boolean", head + "services:\n  - name: a\n    image: b\n    readonly: yes\n",
			[]string{`f.yml:6:15: services[0].readonly: expected true or false, got a string ("yes")`}},
		{"integer expected", head + "services:\n  - name: a\n    image: b\n    oomScoreAdj: lots\n",
			[]string{`f.yml:6:18: services[0].oomScoreAdj: expected an integer, got a string ("lots")`}},
		{"negative uid", head + "services:\n  - name: a\n    image: b\n    uid: -1\n",
			[]string{`f.yml:6:10: services[0].uid: id -1 is out of range (0 to 4294967295)`}},
		{"null list item", head + "init:\n  - a\n  -\n",
			[]string{`f.yml:5:4: init[1]: expected a string, got nothing (null)`}},
		{"missing name and image", head + "onboot:\n  - command: [x]\n",
			[]string{`f.yml:4:5: onboot[0]: missing required field "name"`, `f.yml:4:5: onboot[0]: missing required field "image"`}},
		{"empty name", head + "onboot:\n  - name: \"\"\n    image: b\n",
			[]string{`f.yml:4:11: onboot[0].name: must not be empty`}},
		{"invalid name", head + "onboot:\n  - name: a/b\n    image: b\n",
			[]string{`f.yml:4:11: onboot[0].name: invalid name "a/b": use letters, digits, '-', '_' and '.', starting with a letter or digit`}},
		{"duplicate service", head + "services:\n  - name: a\n    image: b\n  - name: a\n    image: c\n",
			[]string{`f.yml:6:5: duplicate service name "a" (first defined at f.yml:4:5); service names must be unique`}},
		{"unknown capability", head + "services:\n  - name: a\n    image: b\n    capabilities: [CAP_NET_ADMN]\n",
			[]string{`f.yml:6:20: services[0].capabilities[0]: unknown capability "CAP_NET_ADMN" (did you mean "CAP_NET_ADMIN"?)`}},
		{"lower-case capability", head + "services:\n  - name: a\n    image: b\n    ambient: [cap_chown]\n",
			[]string{`f.yml:6:15: services[0].ambient[0]: unknown capability "cap_chown" (did you mean "CAP_CHOWN"?)`}},
		{"all not alone", head + "services:\n  - name: a\n    image: b\n    capabilities: [CAP_CHOWN, all]\n",
			[]string{`f.yml:6:31: services[0].capabilities[1]: "all" must be the only entry of the list`}},
		{"all among others in capabilities.add", head + "services:\n  - name: a\n    image: b\n    capabilities.add: [CAP_CHOWN, all]\n",
			[]string{`f.yml:6:35: services[0].capabilities.add[1]: "all" must be the only entry of the list`}},
		{"bind without destination", head + "services:\n  - name: a\n    image: b\n    binds: [/a]\n",
			[]string{`f.yml:6:13: services[0].binds[0]: bind "/a": want source:destination[:options]`}},
		{"bind empty destination", head + "services:\n  - name: a\n    image: b\n    binds.add: [\"/a:\"]\n",
			[]string{`f.yml:6:17: services[0].binds.add[0]: bind "/a:": empty destination (it would cover the container's whole filesystem): name a path in the container`}},
		{"tmpfs empty destination", head + "services:\n  - name: a\n    image: b\n    tmpfs: [\":size=1m\"]\n",
			[]string{`f.yml:6:13: services[0].tmpfs[0]: tmpfs ":size=1m": empty destination (it would cover the container's whole filesystem): name a path in the container`}},
		{"mount without type", head + "services:\n  - name: a\n    image: b\n    mounts:\n      - destination: /x\n",
			[]string{`f.yml:7:9: services[0].mounts[0]: mount for destination "/x" has no type (add type: bind, tmpfs, ...)`}},
		{"bad namespace", head + "services:\n  - name: a\n    image: b\n    pid: none\n",
			[]string{`f.yml:6:10: services[0].pid: invalid pid namespace "none": use host, new or an absolute path`}},
		{"bad env", head + "services:\n  - name: a\n    image: b\n    env: [FOO]\n",
			[]string{`f.yml:6:11: services[0].env[0]: "FOO" is not KEY=VALUE (runc refuses it: the container would not start)`}},
		{"relative cwd", head + "services:\n  - name: a\n    image: b\n    cwd: tmp\n",
			[]string{`f.yml:6:10: services[0].cwd: must be an absolute path, got "tmp" (runc refuses a relative working directory)`}},
		{"bad rlimit", head + "services:\n  - name: a\n    image: b\n    rlimits: [\"nofiles,1,2\"]\n",
			[]string{`f.yml:6:15: services[0].rlimits[0]: rlimit "nofiles,1,2": unknown limit "nofiles" (did you mean "RLIMIT_NOFILE"?)`}},
		{"device without mode", head + "services:\n  - name: a\n    image: b\n    devices:\n      - {path: /dev/fuse, type: c, major: 10, minor: 229}\n",
			[]string{`f.yml:7:9: services[0].devices[0]: missing required field "mode" (an octal string such as "0660")`}},
		{"bad propagation", head + "services:\n  - name: a\n    image: b\n    rootfsPropagation: shard\n",
			[]string{`f.yml:6:24: services[0].rootfsPropagation: invalid value "shard": use shared, slave, private, unbindable or their r- forms`}},
		{"oom out of range", head + "services:\n  - name: a\n    image: b\n    oomScoreAdj: -2000\n",
			[]string{`f.yml:6:18: services[0].oomScoreAdj: must be between -1000 and 1000, got -2000 (the kernel refuses it: the container would not start)`}},
		{"runtime interface without name", head + "services:\n  - name: a\n    image: b\n    runtime:\n      interfaces:\n        - add: veth\n",
			[]string{`f.yml:8:11: services[0].runtime.interfaces[0]: missing required field "name"`}},
		{"bad restart", head + "services:\n  - name: a\n    image: b\n    restart: sometimes\n",
			[]string{`f.yml:6:14: services[0].restart: invalid restart policy "sometimes": use no, always, on-failure, on-failure:N or unless-stopped`}},
		{"restart on onboot", head + "onboot:\n  - name: a\n    image: b\n    restart: always\n",
			[]string{`f.yml:6:14: onboot[0].restart: only applies to services, not onboot`}},
		{"duration without unit", head + "services:\n  - name: a\n    image: b\n    stopTimeout: \"10\"\n",
			[]string{`f.yml:6:18: services[0].stopTimeout: invalid duration "10" (add a unit, e.g. "10s")`}},
		{"timeout on a service", head + "services:\n  - name: a\n    image: b\n    timeout: 5s\n",
			[]string{`f.yml:6:14: services[0].timeout: only applies to onboot and onshutdown (for services see stopTimeout)`}},
		{"bad seccomp", head + "services:\n  - name: a\n    image: b\n    seccomp: off\n",
			[]string{`f.yml:6:14: services[0].seccomp: "off": want default or unconfined`}},
		{"bad stop signal", head + "services:\n  - name: a\n    image: b\n    stopSignal: SIGTREM\n",
			[]string{`f.yml:6:17: services[0].stopSignal: unknown signal "SIGTREM" (did you mean "SIGTERM"?)`}},
		{"unknown dependency", head + "services:\n  - name: a\n    image: b\n    dependsOn: [db]\n  - name: dbs\n    image: c\n",
			[]string{`f.yml:4:5: service "a" depends on "db", which is not a service (did you mean "dbs"?)`}},
		{"dependency cycle", head + "services:\n  - name: a\n    image: b\n    dependsOn: [c]\n  - name: c\n    image: c\n    dependsOn: [a]\n",
			[]string{`f.yml:4:5: services depend on each other in a cycle: a -> c -> a`}},
		{"healthcheck without test", head + "services:\n  - name: a\n    image: b\n    healthcheck:\n      interval: 5\n",
			[]string{`f.yml:7:7: services[0].healthcheck: missing required field "test" (the command to run)`,
				`f.yml:7:17: services[0].healthcheck.interval: invalid duration "5" (add a unit, e.g. "5s")`}},
		{"file without kind", head + "files:\n  - path: etc/x\n",
			[]string{`f.yml:4:5: files[0]: say what the file is: set one of contents, source, symlink, metadata or directory: true`}},
		{"file with two kinds", head + "files:\n  - path: etc/x\n    contents: a\n    directory: true\n",
			[]string{`f.yml:6:16: files[0]: sets both contents and directory; use exactly one of contents, source, symlink, metadata or directory: true`}},
		{"file without path", head + "files:\n  - contents: a\n",
			[]string{`f.yml:4:5: files[0]: missing required field "path"`}},
		{"file path escapes", head + "files:\n  - path: ../etc/x\n    contents: a\n",
			[]string{`f.yml:4:11: files[0].path: "../etc/x" must not contain ".."`}},
		{"bad metadata", head + "files:\n  - path: etc/x\n    metadata: toml\n",
			[]string{`f.yml:5:15: files[0].metadata: unsupported metadata format "toml" (want "yaml" or "json")`}},
		{"bad mode", head + "files:\n  - path: etc/x\n    contents: a\n    mode: \"0999\"\n",
			[]string{`f.yml:6:11: files[0].mode: invalid mode "0999": want an octal string such as "0644"`}},
		{"bad volume name", head + "volumes:\n  - name: Data\n",
			[]string{`f.yml:4:11: volumes[0].name: invalid volume name "Data": use lower-case letters, digits, '-' and '_'`}},
		{"bind to unknown volume", head + "volumes:\n  - name: data\nservices:\n  - name: a\n    image: b\n    binds: [\"dat:/d\"]\n",
			[]string{`f.yml:6:5: "a": bind source "dat" is neither an absolute path nor a volume (did you mean "data"?)`}},
		{"read-only volume bound rw", head + "volumes:\n  - name: data\n    readonly: true\nservices:\n  - name: a\n    image: b\n    binds: [\"data:/d\"]\n",
			[]string{`f.yml:7:5: "a": volume "data" is read-only, but this bind is read-write (LinuxKit refuses it too): add the ro option, e.g. data:/path:ro`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("f.yml", []byte(tc.yaml))
			if err == nil {
				t.Fatalf("got spec %+v and no error, want %q", s, tc.want)
			}
			if s != nil {
				t.Errorf("got a spec along with the error, want nil")
			}
			got := strings.Split(err.Error(), "\n")
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			list, ok := AsErrorList(err)
			if !ok || len(list) != len(tc.want) {
				t.Errorf("got %d errors in an ErrorList (ok=%v), want %d", len(list), ok, len(tc.want))
			}
		})
	}
}

func TestParseCollectsAllErrors(t *testing.T) {
	yaml := head + "onboot:\n  - name: a\n    image: b\n    comand: [x]\n  - name: c\n" +
		"services:\n  - name: d\n    image: e\n    capabilities: [CAP_NOPE]\n"
	_, err := Parse("f.yml", []byte(yaml))
	list, ok := AsErrorList(err)
	if !ok {
		t.Fatalf("got %v, want an ErrorList", err)
	}
	if len(list) != 3 {
		t.Fatalf("got %d errors, want 3:\n%v", len(list), err)
	}
	for i, line := range []int{6, 7, 11} {
		if list[i].Pos.Line != line {
			t.Errorf("error %d: got line %d, want %d (%v)", i, list[i].Pos.Line, line, list[i])
		}
	}
}

func TestParseAliasBombs(t *testing.T) {
	tests := []string{
		"a: &a [*a]\nservices: *a\n",
		"x: &x {k: *x}\n",
	}
	for _, in := range tests {
		if _, err := Parse("f.yml", []byte(in)); err == nil {
			t.Errorf("Parse(%q): got no error, want one", in)
		}
	}
	// A classic billion-laughs document must fail fast, not expand.
	var b strings.Builder
	b.WriteString("l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		prev := "*l" + string(rune('0'+i-1))
		b.WriteString("l" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString(prev)
		}
		b.WriteString("]\n")
	}
	b.WriteString("init: *l8\n")
	if _, err := Parse("f.yml", []byte(b.String())); err == nil {
		t.Error("got no error for a billion-laughs document, want one")
	}
}
