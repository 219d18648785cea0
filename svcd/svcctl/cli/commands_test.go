package cli

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestCommandTable pins what each command takes: scripts, the qemu-tests
// and docs/system.md depend on these.
func TestCommandTable(t *testing.T) {
	want := map[string]struct {
		nargs int
		flags []string
	}{
		"list":     {0, []string{"json"}},
		"status":   {1, []string{"json"}},
		"start":    {1, nil},
		"stop":     {1, nil},
		"restart":  {1, nil},
		"logs":     {1, []string{"f", "tail", "since", "json"}},
		"events":   {0, []string{"json"}},
		"boot":     {0, []string{"json"}},
		"stats":    {1, []string{"json"}},
		"dmesg":    {0, []string{"tail", "json"}},
		"poweroff": {0, nil},
		"reboot":   {0, nil},
		"halt":     {0, nil},
	}
	if len(commands) != len(want) {
		t.Errorf("got %d commands, want %d", len(commands), len(want))
	}
	for _, c := range commands {
		w, ok := want[c.name]
		if !ok {
			t.Errorf("command %s: not expected", c.name)
			continue
		}
		var flags []string
		for _, f := range c.flags {
			flags = append(flags, f.name)
		}
		if c.nargs != w.nargs || !slices.Equal(flags, w.flags) {
			t.Errorf("command %s: got %d args and flags %v, want %d and %v", c.name, c.nargs, flags, w.nargs, w.flags)
		}
		if (c.args == "") != (c.nargs == 0) {
			t.Errorf("command %s: usage names arguments %q for %d arguments", c.name, c.args, c.nargs)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		cmd     string
		args    []string
		wantPos []string
		want    options
		wantErr string
	}{
		{"logs", []string{"web", "-f", "--tail", "5"}, []string{"web"}, options{follow: true, tail: 5}, ""},
		{"logs", []string{"-f", "web", "--since", "10m", "--json"}, []string{"web"}, options{follow: true, tail: -1, since: 600e9, json: true}, ""},
		{"logs", []string{"web", "--json=false"}, []string{"web"}, options{tail: -1}, ""},
		{"dmesg", []string{"--tail", "1", "--json"}, nil, options{tail: 1, json: true}, ""},
		{"dmesg", []string{"-f"}, nil, options{}, "dmesg: flag provided but not defined: -f"},
		{"list", []string{"--tail", "3"}, nil, options{}, "list: flag provided but not defined: -tail"},
		{"stop", []string{"web", "--json"}, nil, options{}, "stop: flag provided but not defined: -json"},
		{"poweroff", []string{"now"}, nil, options{}, "poweroff takes 0 argument(s), got 1"},
		{"status", nil, nil, options{}, "status takes 1 argument(s), got 0"},
		{"stats", []string{"a", "b"}, nil, options{}, "stats takes 1 argument(s), got 2"},
	}
	for _, tt := range tests {
		t.Run(tt.cmd+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			var o options
			pos, err := lookup(tt.cmd).parse(tt.args, &o)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(pos, tt.wantPos) || o != tt.want {
				t.Errorf("got %v %+v, want %v %+v", pos, o, tt.wantPos, tt.want)
			}
		})
	}
}

// TestUsage checks the usage text names every command and keeps its
// layout (docs/system.md shows it).
func TestUsage(t *testing.T) {
	u := usage()
	for _, c := range commands {
		if !strings.Contains(u, c.name) {
			t.Errorf("usage does not name %s:\n%s", c.name, u)
		}
	}
	const want = `usage: svcctl [--socket PATH] [--json] COMMAND [ARGS]

commands:
  list                 every container: name, phase, state, health, pid, uptime, restarts, image
  status NAME          one container in detail (exit 0 running, 5 not running)
  start|stop|restart NAME
                       control a service (stop: stop signal, then SIGKILL after its timeout)
  logs NAME [-f] [--tail N] [--since D]
                       the captured output of a container, with time and stream
  events               stream state changes as they happen
  boot                 the boot timeline: init's steps and svcd's, in guest boot time
  stats NAME           cpu, memory and pids of a running container (cgroup v2)
  dmesg [--tail N]     the kernel log, like dmesg
  poweroff|reboot|halt stop all services and power off, reboot or halt

exit codes: 0 ok, 1 svcd refused or failed, 2 usage, 3 no such container,
4 wrong state (already running, not running), 5 status: not running,
69 svcd unreachable
`
	if u != want {
		t.Errorf("usage: got\n%s\nwant\n%s", u, want)
	}
}

func TestUnknownFlagExit(t *testing.T) {
	for _, args := range [][]string{{"list", "--tail", "1"}, {"poweroff", "-f"}, {"logs", "web", "--bogus"}} {
		var out, errb bytes.Buffer
		if code := run(append([]string{"--socket", "/nonexistent"}, args...), &out, &errb); code != exitUsage {
			t.Errorf("svcctl %v: got exit %d, want %d (stderr %q)", args, code, exitUsage, errb.String())
		}
	}
}
