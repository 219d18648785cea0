package qemutest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// BootWith is Boot with extra QEMU arguments (disks, a monitor socket).
func BootWith(ctx context.Context, q *run.QEMU, extra ...string) (*Console, error) {
	args, err := q.Args()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", append(args, extra...)...)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	c := &Console{cmd: cmd, grew: make(chan struct{}, 1), done: make(chan struct{})}
	c.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting qemu: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, strings.TrimRight(sc.Text(), "\r"))
			c.at = append(c.at, time.Since(c.start))
			c.mu.Unlock()
			select {
			case c.grew <- struct{}{}:
			default:
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		pw.Close()
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		close(c.done)
	}()
	return c, nil
}

// monitorCommand sends one command to a QEMU human monitor listening on a
// unix socket (-monitor unix:PATH,server=on,wait=off).
func monitorCommand(path, command string) error {
	conn, err := net.DialTimeout("unix", path, 10*time.Second)
	if err != nil {
		return fmt.Errorf("connecting to the QEMU monitor: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	// Read the banner and prompt before typing, as a person would.
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil {
		return fmt.Errorf("reading the QEMU monitor banner: %w", err)
	}
	if _, err := io.WriteString(conn, command+"\n"); err != nil {
		return fmt.Errorf("sending %q to the QEMU monitor: %w", command, err)
	}
	// Wait for the echo so the command is taken before we hang up.
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil
		}
		if strings.Contains(line, strings.Fields(command)[0]) {
			return nil
		}
	}
}
