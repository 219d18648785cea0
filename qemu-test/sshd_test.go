package qemutest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
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
	"golang.org/x/crypto/ssh"
)

// newKey returns a fresh ed25519 key, as a signer and as the PEM text of
// an OpenSSH private key file with comment.
func newKey(t *testing.T, comment string) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		t.Fatal(err)
	}
	return s, pem.EncodeToMemory(block)
}

// newUserKey returns a fresh ed25519 login key.
func newUserKey(t *testing.T) ssh.Signer {
	t.Helper()
	s, _ := newKey(t, "keel-test")
	return s
}

// authorizedKeySpec writes a spec whose files section makes key root's
// authorized key, and returns its path relative to the repository root,
// the form buildImage takes.
func authorizedKeySpec(t *testing.T, key ssh.Signer) string {
	t.Helper()
	return authorizedKeysSpec(t, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key.PublicKey()))))
}

// authorizedKeysSpec is authorizedKeySpec for whole authorized_keys lines,
// options included.
func authorizedKeysSpec(t *testing.T, lines ...string) string {
	t.Helper()
	content := strings.Join(lines, "\n") + "\n"
	spec := fmt.Sprintf("files:\n  - path: root/.ssh/authorized_keys\n    contents: %q\n    mode: \"0600\"\n", content)
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
