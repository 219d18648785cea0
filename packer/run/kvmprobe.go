package run

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keel-os/keel/internal/atomicfile"
)

// Probe is one probe boot: a kernel with no initrd under KVM. The kernel
// goes through everything that hangs a half-working nested KVM (the
// decompressor's switch to long mode, paging, the APIC, timers) and ends
// in its "cannot mount root" panic, which panic=-1 and -no-reboot turn
// into QEMU exiting cleanly: a verdict in a second or two.
type Probe struct {
	Binary      string
	MachineArgs []string
	Console     string
	Kernel      string
	CPU         string
	Timeout     time.Duration
	// Accel is "kvm" when empty; tests run the same boot under "tcg" to
	// prove that a real kernel ends the way the probe expects.
	Accel string
}

// Args are QEMU's arguments for the probe.
func (p Probe) Args() []string {
	console := p.Console
	if console == "" {
		console = "ttyS0"
	}
	accel := p.Accel
	if accel == "" {
		accel = "kvm"
	}
	return append(slices.Clone(p.MachineArgs),
		"-accel", accel, "-cpu", p.CPU, "-m", "256", "-smp", "1",
		"-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none", "-serial", "stdio",
		"-kernel", p.Kernel, "-append", "console="+console+" panic=-1 quiet")
}

// probeMarker is what the kernel prints at the end of a probe boot.
const probeMarker = "Kernel panic"

// RunProbe runs QEMU on the probe and reads its verdict. QEMU runs in its
// own process group, killed whole at the deadline.
func RunProbe(ctx context.Context, p Probe) Verdict {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.Binary, p.Args()...)
	out := &tailBuffer{max: 8 << 10}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	v := Verdict{CPU: p.CPU, Took: took}
	text := out.String()
	switch {
	case ctx.Err() == context.DeadlineExceeded && strings.TrimSpace(text) == "":
		v.Reason = fmt.Sprintf("no output in %s", p.Timeout)
	case ctx.Err() == context.DeadlineExceeded:
		v.Reason = fmt.Sprintf("the guest kernel did not finish in %s (last output: %q)", p.Timeout, lastLine(text))
	case err != nil:
		v.Reason = fmt.Sprintf("qemu: %v", err)
		if l := qemuError(text); l != "" {
			v.Reason = l + "; " + v.Reason
		}
	case !strings.Contains(text, probeMarker):
		v.Reason = fmt.Sprintf("QEMU exited without the guest kernel running (last output: %q)", lastLine(text))
	default:
		v.Works = true
		v.Reason = fmt.Sprintf("probe boot took %.2fs", took.Seconds())
	}
	return v
}

// qemuError is QEMU's own complaint in its output, else "".
func qemuError(text string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "qemu-system") && strings.Contains(l, "error") {
			return strings.TrimSpace(l)
		}
	}
	return lastLine(text)
}

func lastLine(text string) string {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// tailBuffer keeps the last max bytes written: a probe's console is read
// only for its end, and a guest that prints forever must not grow it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

// VerdictKey names what a verdict depends on: the QEMU binary (path, size
// and modification time), the host kernel and the CPU model and flags.
func VerdictKey(binary string) (string, error) {
	path, err := exec.LookPath(binary)
	if err != nil {
		return "", fmt.Errorf("QEMU not found (%s): install qemu-system-x86 (scripts/ensure-deps.sh): %w", binary, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("QEMU: %w", err)
	}
	// The file's identity stands for its version: an upgrade replaces
	// the file. Asking QEMU (--version) would cost a dynamic load of its
	// libraries, a third of a second on a busy host, at every decision.
	h := sha256.New()
	fmt.Fprintf(h, "qemu %s %d %d\n", path, fi.Size(), fi.ModTime().UnixNano())
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		fmt.Fprintf(h, "kernel %s %s\n", unix.ByteSliceToString(u.Release[:]), unix.ByteSliceToString(u.Version[:]))
	}
	fmt.Fprintf(h, "cpu %s\n", cpuIdentity())
	return hex.EncodeToString(h.Sum(nil))[:20], nil
}

// cpuIdentity is the first processor's model and feature lines from
// /proc/cpuinfo (x86 and arm64 spell them differently).
func cpuIdentity() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	var id []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		line := s.Text()
		if strings.TrimSpace(line) == "" && len(id) > 0 {
			break // the first processor's block is enough
		}
		k, _, _ := strings.Cut(line, ":")
		switch strings.TrimSpace(k) {
		case "vendor_id", "cpu family", "model", "model name", "flags", "CPU implementer", "CPU part", "Features":
			id = append(id, line)
		}
	}
	return strings.Join(id, "\n")
}

// VerdictStore keeps verdicts across processes.
type VerdictStore interface {
	// Locked calls f with the stored verdict for key (nil if none) while
	// holding key's lock, and stores what f returns unless that is nil.
	Locked(key string, f func(cached *Verdict) (*Verdict, error)) error
}

// DirStore keeps each verdict as KEY.json in a directory, with a lock
// file beside it so that concurrent boots run one probe.
type DirStore string

// DefaultVerdictStore is the user's cache directory's keel/kvm.
func DefaultVerdictStore() (DirStore, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = filepath.Join(os.TempDir(), "keel-cache-"+strconv.Itoa(os.Getuid()))
	}
	return DirStore(filepath.Join(dir, "keel", "kvm")), nil
}

// Locked implements VerdictStore.
func (d DirStore) Locked(key string, f func(*Verdict) (*Verdict, error)) error {
	dir := string(d)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("KVM verdict cache: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, key+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("KVM verdict cache: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("KVM verdict cache: locking: %w", err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN)
	file := filepath.Join(dir, key+".json")
	var cached *Verdict
	if b, err := os.ReadFile(file); err == nil {
		var v Verdict
		// A damaged entry is as good as none: the probe runs again.
		if json.Unmarshal(b, &v) == nil {
			cached = &v
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("KVM verdict cache: %w", err)
	}
	v, err := f(cached)
	if err != nil || v == nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	// 0o600: the mode the verdict has always had (os.CreateTemp's).
	if err := atomicfile.WriteFile(file, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("KVM verdict cache: %w", err)
	}
	return nil
}
