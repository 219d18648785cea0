package bundle

import (
	"reflect"
	"testing"
)

func TestRisks(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, label string
		want              []Risk
	}{
		{"nothing asked", "", "", nil},
		{"harmless settings", "capabilities: [CAP_NET_ADMIN]\nbinds: [\"/var/log:/var/log\", \"/etc/resolv.conf:/etc/resolv.conf\"]\nnet: new\npid: new\nseccomp: default", "", nil},
		{"privileged in the spec", "capabilities: [all]", "",
			[]Risk{{"is privileged", "capabilities: [all]", FromSpec}}},
		{"privileged in the label", "", `{"capabilities":["all"]}`,
			[]Risk{{"is privileged", "capabilities: [all]", FromLabel}}},
		{"spec list replaces a privileged label", "capabilities: [CAP_CHOWN]", `{"capabilities":["all"]}`, nil},
		{"CAP_SYS_ADMIN in the label", "", `{"capabilities":["CAP_SYS_ADMIN","CAP_NET_ADMIN"]}`,
			[]Risk{{"holds CAP_SYS_ADMIN", "capabilities: [CAP_SYS_ADMIN, CAP_NET_ADMIN]", FromLabel}}},
		{"CAP_SYS_ADMIN added by the spec", "capabilities.add: [CAP_SYS_ADMIN]", `{"capabilities":["CAP_NET_ADMIN"]}`,
			[]Risk{{"holds CAP_SYS_ADMIN", "capabilities.add: [CAP_SYS_ADMIN]", FromSpec}}},
		{"CAP_SYS_ADMIN as ambient", "ambient: [CAP_SYS_ADMIN]", "",
			[]Risk{{"holds CAP_SYS_ADMIN", "ambient: [CAP_SYS_ADMIN]", FromSpec}}},
		{"bind of /", "binds: [\"/:/host:ro\"]", "",
			[]Risk{{"binds the host's /", "binds: /:/host:ro", FromSpec}}},
		{"bind of /run in the label", "", `{"binds":["/run:/run"]}`,
			[]Risk{{"binds the host's /run", "binds: /run:/run", FromLabel}}},
		{"binds.add of /var/run/ (trailing slash)", "binds.add: [\"/var/run/:/r\"]", "",
			[]Risk{{"binds the host's /var/run", "binds.add: /var/run/:/r", FromSpec}}},
		{"containerd socket", "binds: [\"/run/containerd/containerd.sock:/c.sock\"]", "",
			[]Risk{{"binds runtime socket path /run/containerd/containerd.sock", "binds: /run/containerd/containerd.sock:/c.sock", FromSpec}}},
		{"svcd socket directory", "binds: [\"/run/svcd:/svcd\"]", "",
			[]Risk{{"binds runtime socket path /run/svcd", "binds: /run/svcd:/svcd", FromSpec}}},
		{"a sibling of /run/svcd is fine", "binds: [\"/run/svcd-logs:/l\", \"/run/resolvconf:/r\"]", "", nil},
		{"spec binds replace the label's", "binds: [\"/var:/var\"]", `{"binds":["/:/host"]}`, nil},
		{"mounts bind of /", "mounts:\n  - {type: bind, source: /, destination: /host, options: [rbind, ro]}", "",
			[]Risk{{"binds the host's /", "mounts: / on /host", FromSpec}}},
		{"mounts bind in the label", "", `{"mounts":[{"type":"bind","source":"/run","destination":"/run","options":["rbind"]}]}`,
			[]Risk{{"binds the host's /run", "mounts: /run on /run", FromLabel}}},
		{"seccomp off in the label", "", `{"seccomp":"unconfined"}`,
			[]Risk{{"runs without seccomp", "seccomp: unconfined", FromLabel}}},
		{"spec turns seccomp back on", "seccomp: default", `{"seccomp":"unconfined"}`, nil},
		{"seccomp off in the spec", "seccomp: unconfined", "",
			[]Risk{{"runs without seccomp", "seccomp: unconfined", FromSpec}}},
		{"host pid and net", "pid: host", `{"net":"host"}`, []Risk{
			{"shares the host's pid namespace", "pid: host", FromSpec},
			{"shares the host's network namespace", "net: host", FromLabel}}},
		{"pid 1's namespace by path", "net: /proc/1/ns/net", "",
			[]Risk{{"shares the host's network namespace", "net: /proc/1/ns/net", FromSpec}}},
		{"spec overrides the label's host pid", "pid: new", `{"pid":"host"}`, nil},
		{"getty's label says it all", "", gettyLabel, []Risk{
			{"is privileged", "capabilities: [all]", FromLabel},
			{"binds the host's /run", "binds: /run:/run", FromLabel},
			{"shares the host's pid namespace", "pid: host", FromLabel},
			{"shares the host's network namespace", "net: host", FromLabel}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Risks(entry(t, "services", tc.yaml), label(t, tc.label))
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestRiskString(t *testing.T) {
	r := Risk{"holds CAP_SYS_ADMIN", "capabilities: [CAP_SYS_ADMIN]", FromLabel}
	want := "holds CAP_SYS_ADMIN (capabilities: [CAP_SYS_ADMIN] in the image's org.mobyproject.config label)"
	if got := r.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
