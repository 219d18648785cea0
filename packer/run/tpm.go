package run

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// TPM is a software TPM (swtpm) that a boot attaches to the guest as a
// TPM TIS device, which Linux's tpm_tis driver sees as /dev/tpm0.
type TPM struct {
	// Dir holds the TPM's persistent state (its keys, ownership, NVRAM),
	// swtpm's control socket, pid and log. It is made if missing, so a
	// second boot with the same Dir sees the same TPM.
	Dir string
	// Version2 emulates a TPM 2.0; otherwise a TPM 1.2 (TrouSerS, the tss
	// package, speaks only 1.2).
	Version2 bool
	// Binary is swtpm; empty means "swtpm" on $PATH.
	Binary string
}

// tpmStartWait bounds the wait for swtpm's control socket.
const tpmStartWait = 10 * time.Second

// dir is Dir made absolute: QEMU and swtpm get the same socket path
// whatever their working directory.
func (t *TPM) dir() string {
	if abs, err := filepath.Abs(t.Dir); err == nil {
		return abs
	}
	return t.Dir
}

func (t *TPM) socket() string  { return filepath.Join(t.dir(), "swtpm.sock") }
func (t *TPM) pidFile() string { return filepath.Join(t.dir(), "swtpm.pid") }
func (t *TPM) logFile() string { return filepath.Join(t.dir(), "swtpm.log") }

// args is swtpm's command line: in the background (so it outlives keel
// with --detach), ending by itself once QEMU closes the control channel.
func (t *TPM) args() []string {
	a := []string{"socket", "--daemon", "--terminate",
		"--tpmstate", "dir=" + escapeOpt(t.dir()),
		"--ctrl", "type=unixio,path=" + escapeOpt(t.socket()),
		"--pid", "file=" + escapeOpt(t.pidFile()),
		"--log", "file=" + escapeOpt(t.logFile()),
	}
	if t.Version2 {
		a = append(a, "--tpm2")
	}
	return a
}

// qemuArgs attach the running swtpm to the guest.
func (t *TPM) qemuArgs() []string {
	return []string{
		"-chardev", "socket,id=chrtpm,path=" + escapeOpt(t.socket()),
		"-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
		"-device", "tpm-tis,tpmdev=tpm0",
	}
}

// escapeOpt doubles the commas of a value inside a comma-separated option
// list (QEMU's and swtpm's).
func escapeOpt(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// Start starts swtpm and waits for its control socket. A swtpm already
// serving Dir (its pid file names a live process) is an error: one TPM
// cannot be two machines'.
func (t *TPM) Start(ctx context.Context) error {
	if t.Dir == "" {
		return errors.New("--tpm: no state directory given")
	}
	if err := os.MkdirAll(t.Dir, 0o700); err != nil {
		return fmt.Errorf("--tpm: %w", err)
	}
	if pid, ok := t.running(); ok {
		return fmt.Errorf("--tpm %s: swtpm (pid %d) already serves this TPM; stop that machine first or give another directory", t.Dir, pid)
	}
	os.Remove(t.socket())
	bin := t.Binary
	if bin == "" {
		bin = "swtpm"
	}
	if _, err := exec.LookPath(bin); err != nil {
		return fmt.Errorf("--tpm needs swtpm (Debian's swtpm package: apt-get install swtpm): %w", err)
	}
	out, err := exec.CommandContext(ctx, bin, t.args()...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("--tpm: swtpm failed: %w: %s (its log: %s)", err, strings.TrimSpace(string(out)), t.logFile())
	}
	deadline := time.Now().Add(tpmStartWait)
	for {
		if _, err := os.Stat(t.socket()); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			t.Stop()
			return fmt.Errorf("--tpm: swtpm made no control socket %s within %s (its log: %s)", t.socket(), tpmStartWait, t.logFile())
		}
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// running reports the pid of a live swtpm that the pid file names.
func (t *TPM) running() (int, bool) {
	b, err := os.ReadFile(t.pidFile())
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if syscall.Kill(pid, 0) != nil {
		return 0, false
	}
	// A recycled pid is someone else's process: only swtpm counts.
	comm, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil || strings.TrimSpace(string(comm)) != "swtpm" {
		return 0, false
	}
	return pid, true
}

// Stop ends swtpm if it still runs (it ends by itself when QEMU closes
// its control channel; this covers QEMU never having connected).
func (t *TPM) Stop() {
	if pid, ok := t.running(); ok {
		syscall.Kill(pid, syscall.SIGTERM)
	}
}
