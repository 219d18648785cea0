package qemutest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
	"github.com/keel-os/keel/svcd/api"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// newUserKey returns a fresh ed25519 login key.
func newUserKey(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// authorizedKeySpec writes a spec whose files section makes key root's
// authorized key, and returns its path relative to the repository root,
// the form buildImage takes.
func authorizedKeySpec(t *testing.T, key ssh.Signer) string {
	t.Helper()
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key.PublicKey())))
	spec := fmt.Sprintf("files:\n  - path: root/.ssh/authorized_keys\n    contents: %q\n    mode: \"0600\"\n", line+"\n")
	file := filepath.Join(t.TempDir(), "authorized-key.yml")
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(repoRoot(t), file)
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// dialOnce logs in as root through QEMU's forwarded port.
func dialOnce(port int, key ssh.Signer) (*ssh.Client, error) {
	return ssh.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         20 * time.Second,
	})
}

// dialGuest logs in, retrying while the guest boots: until then QEMU
// accepts the connection and closes it. A refused key is not retried.
func dialGuest(ctx context.Context, c *Console, port int, key ssh.Signer) (*ssh.Client, error) {
	for {
		client, err := dialOnce(port, key)
		if err == nil {
			return client, nil
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no SSH login on port %d: %w (last error: %v)", port, ctx.Err(), err)
		case <-c.done:
			return nil, fmt.Errorf("qemu exited before an SSH login worked (last error: %v)", err)
		case <-time.After(2 * time.Second):
		}
	}
}

// runGuest runs a command over SSH and returns its standard output.
func runGuest(client *ssh.Client, cmd string) (string, error) {
	s, err := client.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	var out, errOut bytes.Buffer
	s.Stdout, s.Stderr = &out, &errOut
	if err := s.Run(cmd); err != nil {
		return out.String(), fmt.Errorf("%s: %w (stderr: %s)", cmd, err, errOut.String())
	}
	return out.String(), nil
}

// guestTerminal runs an interactive login shell on a terminal, types input
// and returns what the terminal showed; the shell must exit with status 4.
func guestTerminal(client *ssh.Client, input string) (string, error) {
	s, err := client.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
		return "", fmt.Errorf("pty-req: %w", err)
	}
	var out bytes.Buffer
	s.Stdout = &out
	s.Stdin = strings.NewReader(input)
	if err := s.Shell(); err != nil {
		return "", fmt.Errorf("shell: %w", err)
	}
	err = s.Wait()
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 4 {
		return out.String(), fmt.Errorf("shell ended with %v, want exit status 4", err)
	}
	return out.String(), nil
}

// sftpPut writes a file in the guest over SFTP.
func sftpPut(client *ssh.Client, path, content string) error {
	sc, err := sftp.NewClient(client)
	if err != nil {
		return err
	}
	defer sc.Close()
	f, err := sc.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write([]byte(content)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// guestServices returns svcd's view of the containers, by name.
func guestServices(client *ssh.Client) (map[string]api.Container, error) {
	out, err := runGuest(client, "svcctl --json list")
	if err != nil {
		return nil, err
	}
	var cs []api.Container
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		return nil, fmt.Errorf("svcctl --json list printed %q: %w", out, err)
	}
	m := map[string]api.Container{}
	for _, c := range cs {
		m[c.Name] = c
	}
	return m, nil
}

// powerOffGuest asks svcd to stop the machine over SSH and requires QEMU to
// exit with status 0. The SSH session may end before the command reports.
func powerOffGuest(ctx context.Context, t *testing.T, c *Console, client *ssh.Client) {
	t.Helper()
	if _, err := runGuest(client, "svcctl poweroff"); err != nil {
		var missing *ssh.ExitMissingError
		if !errors.As(err, &missing) && !errors.Is(err, net.ErrClosed) {
			t.Logf("svcctl poweroff: %v", err)
		}
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatalf("qemu did not exit cleanly after svcctl poweroff: %v\nlast console lines:\n%s", err, c.Tail(40))
	}
	t.Logf("%6.2fs  qemu exited 0", c.Elapsed().Seconds())
}

// bootLoggedIn boots prefix with the guest's port 22 (and the given ports)
// published, logs in as root with key and returns the console, the client
// and the host port of SSH. The caller kills the console and closes the client.
func bootLoggedIn(ctx context.Context, t *testing.T, prefix string, key ssh.Signer, publish []run.Publish, extra ...string) (*Console, *ssh.Client, int) {
	t.Helper()
	port := freePort(t)
	publish = append([]run.Publish{{Host: port, Guest: 22, Proto: "tcp"}}, publish...)
	c, err := BootWith(ctx, &run.QEMU{Prefix: prefix, Mem: 1024, Publish: publish}, extra...)
	if err != nil {
		t.Fatal(err)
	}
	client, err := dialGuest(ctx, c, port, key)
	if err != nil {
		c.Kill()
		t.Fatalf("%v\nlast console lines:\n%s", err, c.Tail(60))
	}
	t.Logf("%6.2fs  logged in over SSH", c.Elapsed().Seconds())
	return c, client, port
}

// TestSSHD boots examples/sshd.yml with a test key as root's authorized key,
// logs in through a published port and checks svcd's view, commands and
// their exit status, a shell on a terminal, an SFTP copy, that another key
// is refused, and powering off over SSH.
func TestSSHD(t *testing.T) {
	require(t)
	key := newUserKey(t)
	prefix := buildImage(t, "examples/sshd.yml", authorizedKeySpec(t, key))
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
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

	tests := []struct {
		cmd     string
		want    string
		wantErr int
	}{
		{cmd: "echo hi", want: "hi\n"},
		{cmd: "exit 3", wantErr: 3},
		// The shell sees the host's network: eth0 with its DHCP address.
		{cmd: "ip addr show eth0 | grep -o 'inet [0-9.]*'", want: "inet 10.0.2.15\n"},
	}
	for _, tt := range tests {
		out, err := runGuest(client, tt.cmd)
		status := 0
		var ee *ssh.ExitError
		if errors.As(err, &ee) {
			status = ee.ExitStatus()
		} else if err != nil {
			t.Fatalf("%s: %v", tt.cmd, err)
		}
		if out != tt.want || status != tt.wantErr {
			t.Errorf("%s: got %q status %d, want %q status %d", tt.cmd, out, status, tt.want, tt.wantErr)
		}
	}

	if out, err := guestTerminal(client, "echo $((6*7)) $TERM; tty; exit 4\n"); err != nil {
		t.Errorf("login shell on a terminal: %v (output %q)", err, out)
	} else if !strings.Contains(out, "42 xterm") || !strings.Contains(out, "/dev/pts/") {
		t.Errorf("login shell on a terminal printed %q, want 42 xterm and a /dev/pts terminal", out)
	}

	// File copy (sftp, and OpenSSH 9's scp) through the built-in subsystem.
	if err := sftpPut(client, "/tmp/copied", "over sftp\n"); err != nil {
		t.Errorf("sftp: %v", err)
	} else if out, err := runGuest(client, "cat /tmp/copied"); err != nil || out != "over sftp\n" {
		t.Errorf("file copied by sftp holds %q (%v), want %q", out, err, "over sftp\n")
	}

	if other, err := dialOnce(port, newUserKey(t)); err == nil {
		other.Close()
		t.Error("a key that is not in authorized_keys logged in")
	} else if !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("login with an unknown key: %v, want an authentication failure", err)
	}
	// sshd is a service, so its log is in svcd's ring, not on the console.
	if out, err := runGuest(client, "svcctl logs sshd"); err != nil || !strings.Contains(out, "auth failure: ssh-ed25519 key") {
		t.Errorf("svcctl logs sshd: %v; want the refused key logged, got:\n%s", err, out)
	}

	powerOffGuest(ctx, t, c, client)
}
