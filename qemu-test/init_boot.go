package qemutest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// BootWith is Boot with extra QEMU arguments (disks, a monitor socket).
func BootWith(ctx context.Context, q *run.QEMU, extra ...string) (*Console, error) {
	withExtra := *q
	withExtra.Extra = append(append([]string(nil), q.Extra...), extra...)
	return Boot(ctx, &withExtra)
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
