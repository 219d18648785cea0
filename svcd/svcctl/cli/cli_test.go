package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/svcd/api"
)

type fake struct{ api.Unsupported }

func (fake) Containers() []api.Container {
	zero, three, killed := 0, 3, 137
	return []api.Container{
		{Name: "sysctl", Phase: "onboot", State: "exited", ExitCode: &zero},
		{Name: "containerd", Phase: "system", State: "running", Pid: 41},
		{Name: "getty", Phase: "service", State: "backoff", ExitCode: &three, Restarts: 2},
		{Name: "hog", Phase: "service", State: "running", Pid: 77, ExitCode: &killed, OOMKilled: true, Restarts: 1},
	}
}

func (fake) Logs(name string) ([]api.LogLine, bool) {
	if name != "getty" {
		return nil, false
	}
	return []api.LogLine{{Seq: 1, Stream: "stdout", Text: "login:"}, {Seq: 2, Stream: "stdout", Text: "bye"}}, true
}
func (fake) Kmsg() ([]api.KmsgRecord, error) {
	return []api.KmsgRecord{{Seq: 0, BootUS: 0, Text: "Linux version 6.1"}, {Seq: 1, BootUS: 1234567, Level: 6, Text: "virtio_net up"}}, nil
}
func (fake) Poweroff() error { return nil }
func (fake) Reboot() error   { return nil }

// serve runs the API over b on a socket for the test's life and returns
// the socket's path.
func serve(t *testing.T, b api.Backend) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "svcd.sock")
	l, err := api.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go api.Serve(ctx, l, b)
	return sock
}

func TestCommands(t *testing.T) {
	sock := serve(t, fake{})

	tests := []struct {
		args       []string
		wantCode   int
		wantOut    string
		wantErrSub string
	}{
		{[]string{"list"}, 0, "" +
			"NAME        PHASE    STATE    HEALTH  PID  UPTIME  EXIT      RESTARTS  IMAGE\n" +
			"sysctl      onboot   exited   -       -    -       0         0         -\n" +
			"containerd  system   running  -       41   -       -         0         -\n" +
			"getty       service  backoff  -       -    -       3         2         -\n" +
			"hog         service  running  -       77   -       137(oom)  1         -\n", ""},
		{[]string{"logs", "getty"}, 0, "0001-01-01T00:00:00.000Z stdout login:\n0001-01-01T00:00:00.000Z stdout bye\n", ""},
		{[]string{"logs", "getty", "--tail", "1"}, 0, "0001-01-01T00:00:00.000Z stdout bye\n", ""},
		{[]string{"--json", "logs", "getty", "--tail", "1"}, 0, `{"seq":2,"time":"0001-01-01T00:00:00Z","stream":"stdout","text":"bye"}` + "\n", ""},
		{[]string{"logs", "nope"}, 3, "", `no container named "nope"`},
		{[]string{"status", "getty"}, 5, "Name:       getty\nPhase:      service\nState:      backoff\nHealth:     -\nPid:        -\nUptime:     -\nLast exit:  3\nRestarts:   2\nRestart:    -\nDepends on: -\nImage:      -\n", ""},
		{[]string{"status", "hog"}, 0, "Name:       hog\nPhase:      service\nState:      running\nHealth:     -\nPid:        77\nUptime:     -\nLast exit:  137 (oom-killed)\nRestarts:   1\nRestart:    -\nDepends on: -\nImage:      -\n", ""},
		{[]string{"status", "nope"}, 3, "", `no container named "nope"`},
		{[]string{"stop", "getty"}, 1, "", "not supported"},
		{[]string{"logs"}, 2, "", "logs takes 1 argument"},
		{[]string{"dance"}, 2, "", `unknown command "dance"`},
		{[]string{"dmesg"}, 0, "[    0.000000] Linux version 6.1\n[    1.234567] virtio_net up\n", ""},
		{[]string{"dmesg", "--tail", "1"}, 0, "[    1.234567] virtio_net up\n", ""},
		{[]string{"dmesg", "--json", "--tail", "1"}, 0, `[{"level":6,"facility":0,"seq":1,"bootUs":1234567,"text":"virtio_net up"}]` + "\n", ""},
		{[]string{"poweroff"}, 0, "", ""},
		{[]string{"reboot"}, 0, "", ""},
		{nil, 2, "", "usage:"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append([]string{"--socket", sock}, tc.args...), &out, &errb)
			if code != tc.wantCode {
				t.Errorf("exit code: got %d, want %d (stderr %q)", code, tc.wantCode, errb.String())
			}
			if out.String() != tc.wantOut {
				t.Errorf("stdout: got\n%s\nwant\n%s", out.String(), tc.wantOut)
			}
			if !strings.Contains(errb.String(), tc.wantErrSub) {
				t.Errorf("stderr: got %q, want it to contain %q", errb.String(), tc.wantErrSub)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "gone.sock")
	var out, errb bytes.Buffer
	if code := run([]string{"--socket", sock, "list"}, &out, &errb); code != exitUnreachable {
		t.Errorf("exit code: got %d, want %d", code, exitUnreachable)
	}
	if want := "svcctl: cannot reach svcd at " + sock; !strings.HasPrefix(errb.String(), want) {
		t.Errorf("stderr: got %q, want it to start with %q", errb.String(), want)
	}
}

func TestEventLine(t *testing.T) {
	at := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	one, killed := 1, 137
	for _, tc := range []struct {
		e    api.Event
		want string
	}{
		{api.Event{Time: at, Name: "web", State: "running", Pid: 7}, "12:00:00.000 web running pid=7\n"},
		{api.Event{Time: at, Name: "web", State: "backoff", ExitCode: &one, Error: "boom"}, "12:00:00.000 web backoff exit=1 error=\"boom\"\n"},
		{api.Event{Time: at, Name: "hog", State: "backoff", ExitCode: &killed, OOMKilled: true}, "12:00:00.000 hog backoff exit=137 oom-killed\n"},
	} {
		var b bytes.Buffer
		if err := (printer{w: &b}).event(tc.e); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("event %+v: got %q, want %q", tc.e, b.String(), tc.want)
		}
	}
}
