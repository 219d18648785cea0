package qemutest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// userKeyFile returns a fresh ed25519 login key and the file holding its
// private half, in OpenSSH's format, for the ssh, scp and sftp commands.
func userKeyFile(t *testing.T) (ssh.Signer, string) {
	t.Helper()
	s, private := newKey(t, "keel-test")
	file := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(file, private, 0o600); err != nil {
		t.Fatal(err)
	}
	return s, file
}

// requireOpenSSH skips the test when the host lacks OpenSSH's client
// programs (scripts/ensure-deps.sh installs openssh-client).
func requireOpenSSH(t *testing.T) {
	t.Helper()
	for _, p := range []string{"ssh", "scp", "sftp"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not found: apt-get install openssh-client (scripts/ensure-deps.sh)", p)
		}
	}
}

// opensshArgs are the options every OpenSSH client command here takes: the
// guest's host key is new at each boot, and nothing may prompt.
func opensshArgs(key string) []string {
	return []string{"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "ConnectTimeout=20", "-o", "LogLevel=ERROR", "-i", key}
}

// openssh runs an OpenSSH client program (ssh, scp, sftp) with stdin as
// input and returns its output, error output and exit status.
func openssh(ctx context.Context, stdin string, prog string, args ...string) (string, string, int, error) {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), "TERM=xterm")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), errOut.String(), ee.ExitCode(), nil
	}
	if err != nil {
		return out.String(), errOut.String(), -1, fmt.Errorf("%s: %w", prog, err)
	}
	return out.String(), errOut.String(), 0, nil
}

// sshCmd runs command in the guest with OpenSSH's ssh, as root with key.
func sshCmd(ctx context.Context, port int, key string, extra []string, command string) (string, string, int, error) {
	args := append(opensshArgs(key), "-p", strconv.Itoa(port))
	args = append(append(args, extra...), "root@127.0.0.1", command)
	return openssh(ctx, "", "ssh", args...)
}

// httpGetRetry fetches url until it answers or ctx ends: the forwarding
// ssh needs a moment to listen.
func httpGetRetry(ctx context.Context, url string) (string, error) {
	var last error
	for {
		resp, err := http.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(body), nil
			}
			err = fmt.Errorf("status %s, body %q, read error %v", resp.Status, body, rerr)
		}
		last = err
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("GET %s: %w (last error: %v)", url, ctx.Err(), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// TestSSHD boots examples/sshd.yml with test keys in root's authorized_keys
// and uses OpenSSH's own client programs against its OpenSSH server, in one
// boot: commands and their exit status, a shell on a terminal, sftp, scp in
// both protocols, -L port forwarding, a key that is not listed and a key
// whose from= option names another address (refused), and svcd's view.
func TestSSHD(t *testing.T) {
	require(t)
	requireOpenSSH(t)
	key, keyFile := userKeyFile(t)
	_, otherFile := userKeyFile(t)
	fromKey, fromFile := userKeyFile(t)
	fromLine := `from="10.9.9.9" ` + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(fromKey.PublicKey())))
	keyLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key.PublicKey())))
	prefix := buildImage(t, "examples/sshd.yml", authorizedKeysSpec(t, keyLine, fromLine))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	c, client, port := bootLoggedIn(ctx, t, prefix, key, nil)
	defer c.Kill()
	defer client.Close()

	services, err := guestServices(client)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"sshd": "running", "dhcpcd": "running", "getty": "running", "sysctl": "exited"} {
		if got := services[name].State; got != want {
			t.Errorf("svcctl list: %s is %q, want %q", name, got, want)
		}
	}

	t.Run("exec", func(t *testing.T) {
		tests := []struct {
			cmd        string
			want       string
			wantStatus int
		}{
			{cmd: "echo hi", want: "hi\n"},
			{cmd: "exit 3", wantStatus: 3},
			// The shell sees the host's network: eth0 with its DHCP address.
			{cmd: "ip addr show eth0 | grep -o 'inet [0-9.]*'", want: "inet 10.0.2.15\n"},
			// It is OpenSSH's server, not a re-implementation.
			{cmd: "/usr/sbin/sshd -V 2>&1 | grep -o '^OpenSSH_[0-9.]*'", want: "OpenSSH_9.2\n"},
			// The host key generated at the first start, kept in /var.
			{cmd: "stat -c %a /var/lib/sshd/ssh_host_ed25519_key", want: "600\n"},
		}
		for _, tt := range tests {
			out, errOut, status, err := sshCmd(ctx, port, keyFile, nil, tt.cmd)
			if err != nil {
				t.Fatalf("ssh %s: %v", tt.cmd, err)
			}
			if out != tt.want || status != tt.wantStatus {
				t.Errorf("ssh %s: got %q status %d, want %q status %d (stderr %q)", tt.cmd, out, status, tt.want, tt.wantStatus, errOut)
			}
		}
	})

	t.Run("pty", func(t *testing.T) {
		out, errOut, status, err := sshCmd(ctx, port, keyFile, []string{"-tt"}, "echo $((6*7)) $TERM; tty; exit 4")
		if err != nil || status != 4 {
			t.Fatalf("ssh -tt: status %d, %v, want status 4 (output %q, stderr %q)", status, err, out, errOut)
		}
		if !strings.Contains(out, "42 xterm") || !strings.Contains(out, "/dev/pts/") {
			t.Errorf("ssh -tt printed %q, want 42 xterm and a /dev/pts terminal", out)
		}
		// sshd's complaints go into the session (lastlog, audit).
		if strings.Contains(out, "Couldn't") || strings.Contains(out, "failed") {
			t.Errorf("ssh -tt printed sshd's complaints: %q", out)
		}
	})

	t.Run("copy", func(t *testing.T) {
		local := filepath.Join(t.TempDir(), "payload")
		if err := os.WriteFile(local, []byte("copied over ssh\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		scp := append(opensshArgs(keyFile), "-P", strconv.Itoa(port))
		sftp := append(opensshArgs(keyFile), "-P", strconv.Itoa(port), "-b", "-", "root@127.0.0.1")
		copies := []struct {
			name   string
			prog   string
			stdin  string
			args   []string
			remote string
		}{
			{name: "sftp", prog: "sftp", stdin: "put " + local + " /tmp/by-sftp\n", args: sftp, remote: "/tmp/by-sftp"},
			// OpenSSH 9's scp speaks sftp; -O is the original scp protocol,
			// which runs scp in the guest.
			{name: "scp", prog: "scp", args: append(append([]string{}, scp...), local, "root@127.0.0.1:/tmp/by-scp"), remote: "/tmp/by-scp"},
			{name: "scp -O", prog: "scp", args: append(append([]string{"-O"}, scp...), local, "root@127.0.0.1:/tmp/by-scp-O"), remote: "/tmp/by-scp-O"},
		}
		for _, cp := range copies {
			_, errOut, status, err := openssh(ctx, cp.stdin, cp.prog, cp.args...)
			if err != nil || status != 0 {
				t.Errorf("%s: status %d, %v (stderr %q)", cp.name, status, err, errOut)
				continue
			}
			if out, _, _, err := sshCmd(ctx, port, keyFile, nil, "cat "+cp.remote); err != nil || out != "copied over ssh\n" {
				t.Errorf("the file copied by %s holds %q (%v), want %q", cp.name, out, err, "copied over ssh\n")
			}
		}
		// And back: scp -O from the guest to the host.
		back := filepath.Join(t.TempDir(), "back")
		if _, errOut, status, err := openssh(ctx, "", "scp", append(append([]string{"-O"}, scp...), "root@127.0.0.1:/tmp/by-scp-O", back)...); err != nil || status != 0 {
			t.Errorf("scp -O from the guest: status %d, %v (stderr %q)", status, err, errOut)
		} else if b, err := os.ReadFile(back); err != nil || string(b) != "copied over ssh\n" {
			t.Errorf("scp -O from the guest wrote %q (%v)", b, err)
		}
	})

	t.Run("forward", func(t *testing.T) {
		// A web server inside the guest, on loopback only: reachable from
		// the host only through the SSH connection.
		const start = "mkdir -p /tmp/fwd && echo forwarded > /tmp/fwd/index.html && httpd -p 127.0.0.1:18080 -h /tmp/fwd"
		if out, errOut, status, err := sshCmd(ctx, port, keyFile, nil, start); err != nil || status != 0 {
			t.Fatalf("starting httpd in the guest: status %d, %v (%q %q)", status, err, out, errOut)
		}
		local := freePort(t)
		fctx, fcancel := context.WithCancel(ctx)
		defer fcancel()
		args := append(opensshArgs(keyFile), "-p", strconv.Itoa(port), "-N", "-o", "ExitOnForwardFailure=yes",
			"-L", fmt.Sprintf("127.0.0.1:%d:127.0.0.1:18080", local), "root@127.0.0.1")
		fwd := exec.CommandContext(fctx, "ssh", args...)
		var errOut bytes.Buffer
		fwd.Stderr = &errOut
		if err := fwd.Start(); err != nil {
			t.Fatal(err)
		}
		defer fwd.Wait()
		defer fcancel()
		gctx, gcancel := context.WithTimeout(ctx, time.Minute)
		defer gcancel()
		body, err := httpGetRetry(gctx, fmt.Sprintf("http://127.0.0.1:%d/", local))
		if err != nil || body != "forwarded\n" {
			t.Errorf("through ssh -L: got %q, %v, want %q (ssh stderr %q)", body, err, "forwarded\n", errOut.String())
		}
	})

	t.Run("refused", func(t *testing.T) {
		// A key not listed, and a listed key whose from= names another
		// address: the guest sees QEMU's 10.0.2.2 as the client.
		for name, file := range map[string]string{"unknown key": otherFile, `from="10.9.9.9" key`: fromFile} {
			out, errOut, status, err := sshCmd(ctx, port, file, nil, "echo in")
			if err != nil {
				t.Fatal(err)
			}
			if status != 255 || out != "" || !strings.Contains(errOut, "Permission denied (publickey)") {
				t.Errorf("%s: got status %d, output %q, stderr %q; want 255 and Permission denied (publickey)", name, status, out, errOut)
			}
		}
		// sshd is a service, so its log is in svcd's ring, not on the console.
		out, err := runGuest(client, "svcctl logs sshd")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"not from a permitted host", "ip=10.0.2.2", "Connection closed by authenticating user root"} {
			if !strings.Contains(out, want) {
				t.Errorf("svcctl logs sshd: want %q logged, got:\n%s", want, out)
			}
		}
		// What a missing capability looks like (kill of the
		// pre-authentication child, chown of a terminal): none.
		if strings.Contains(out, "Operation not permitted") {
			t.Errorf("svcctl logs sshd: sshd was refused something (a capability the package lacks?):\n%s", out)
		}
	})

	if t.Failed() {
		out, err := runGuest(client, "svcctl logs sshd")
		t.Logf("svcctl logs sshd (%v):\n%s", err, out)
	}
	powerOffGuest(ctx, t, c, client)
}

// TestSSHDHostKeyFromMetadata boots examples/platform-qemu.yml with JSON
// userdata (QEMU fw_cfg) that gives root's key and a host key, the latter
// with a mode sshd would refuse (0644): sshd must present exactly that host
// key, copied with a mode it accepts, instead of generating one.
func TestSSHDHostKeyFromMetadata(t *testing.T) {
	require(t)
	key := newUserKey(t)
	hostKey, hostPEM := newKey(t, "host")
	entry := func(perm, content string) map[string]string {
		return map[string]string{"perm": perm, "content": content}
	}
	userdata, err := json.Marshal(map[string]any{"ssh": map[string]any{"entries": map[string]any{
		"authorized_keys":      entry("0600", string(ssh.MarshalAuthorizedKey(key.PublicKey()))),
		"ssh_host_ed25519_key": entry("0644", string(hostPEM)),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "userdata")
	if err := os.WriteFile(file, userdata, 0o644); err != nil {
		t.Fatal(err)
	}
	prefix := buildImage(t, "examples/platform-qemu.yml")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c, client, port := bootLoggedIn(ctx, t, prefix, key, nil, "-fw_cfg", "name=opt/keel/userdata,file="+file)
	defer c.Kill()
	defer client.Close()

	pinned, err := ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(hostKey.PublicKey()),
		Timeout:         20 * time.Second,
	})
	if err != nil {
		t.Errorf("login expecting the metadata's host key: %v", err)
	} else {
		pinned.Close()
	}
	if out, err := runGuest(client, "ls /var/lib/sshd 2>/dev/null | wc -l"); err != nil || out != "0\n" {
		t.Errorf("/var/lib/sshd holds %q (%v): want no generated host key", out, err)
	}
	powerOffGuest(ctx, t, c, client)
}
