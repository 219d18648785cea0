package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// The one KVM-or-TCG decision every boot makes. A /dev/kvm that opens is
// not proof that KVM runs guests: under nested virtualization it may
// abort QEMU at the first vCPU setup or hang the guest in the kernel's
// decompressor. So in "auto" mode KVM is used only when a probe has seen a
// guest kernel run under it on this host; the verdict is cached, keyed by
// what decides it (QEMU, host kernel, CPU), so the probe costs seconds
// once.

// KVMEnv names the environment variable that sets the KVM mode (auto, on,
// off) of every command and test that does not say it explicitly.
const KVMEnv = "KEEL_KVM"

// KVMDevice is the device whose presence allows a probe. A variable so
// that tests can stand a file in for it.
var KVMDevice = "/dev/kvm"

// DefaultProbeTimeout bounds one probe. A kernel under working KVM reaches
// its root-mount panic in one or two seconds; a broken KVM either aborts at
// once or never prints a line.
const DefaultProbeTimeout = 15 * time.Second

// ProbeTimeoutEnv overrides DefaultProbeTimeout (a Go duration).
const ProbeTimeoutEnv = "KEEL_KVM_PROBE_TIMEOUT"

// Accel is the accelerator a boot uses and why.
type Accel struct {
	KVM bool
	// CPU is QEMU's -cpu model: the one the probe proved under KVM,
	// the architecture's tcgCPU under TCG.
	CPU string
	// Reason says why, in a few words ("no /dev/kvm", "KVM ran a guest
	// kernel in 1.2s", "KVM present but unusable: ...").
	Reason string
}

// Name is "kvm" or "tcg", as QEMU's -accel and the boot-floor tool's ACCEL
// spell them.
func (a Accel) Name() string {
	if a.KVM {
		return "kvm"
	}
	return "tcg"
}

// String is the accelerator with its reason, for logs.
func (a Accel) String() string { return a.Name() + " (" + a.Reason + ")" }

// Args are QEMU's arguments for the accelerator.
func (a Accel) Args() []string {
	if a.KVM {
		return []string{"-accel", "kvm", "-cpu", a.CPU}
	}
	cpu := a.CPU
	if cpu == "" {
		cpu = "max"
	}
	return []string{"-accel", "tcg", "-cpu", cpu}
}

// tcgCPU is the -cpu model arch emulates with; "max" for an architecture
// Run does not know (machineFor refuses it later, with the reason).
func tcgCPU(arch string) string {
	if m, err := machineFor(arch); err == nil && m.tcgCPU != "" {
		return m.tcgCPU
	}
	return "max"
}

// KVMMode settles the mode: the flag when given, else $KEEL_KVM, else
// "auto".
func KVMMode(flag string) (string, error) {
	mode, from := flag, "--kvm"
	if mode == "" {
		mode, from = os.Getenv(KVMEnv), KVMEnv
	}
	switch mode {
	case "":
		return "auto", nil
	case "auto", "on", "off":
		return mode, nil
	}
	return "", fmt.Errorf("%s=%q: want auto, on or off", from, mode)
}

// Verdict is what a probe found, as cached.
type Verdict struct {
	Works bool `json:"works"`
	// CPU is the -cpu model the guest ran with.
	CPU string `json:"cpu"`
	// Reason is the outcome in one line: how long the guest took, or
	// QEMU's error, or "no output in 15s".
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	// Took is the probe's duration.
	Took time.Duration `json:"took"`
}

// negativeTTL bounds how long a failed probe is believed: a hang can be a
// host too loaded to boot a kernel in time, so it is tried again the next
// day. A guest seen running under KVM stays proof until the key changes.
const negativeTTL = 24 * time.Hour

func (v Verdict) fresh(now time.Time) bool {
	return v.Works || now.Sub(v.At) < negativeTTL
}

// ProbeFunc boots a guest kernel under KVM with a deadline and says
// whether it ran.
type ProbeFunc func(ctx context.Context, p Probe) Verdict

// Decider makes the decision for one host. Its fields are seams: the zero
// value's are those of this host.
type Decider struct {
	// Device is KVMDevice when empty.
	Device string
	// Store keeps verdicts; nil means the user's cache directory.
	Store VerdictStore
	// Probe runs a probe; nil runs QEMU (RunProbe).
	Probe ProbeFunc
	// Timeout bounds a probe; zero means $KEEL_KVM_PROBE_TIMEOUT, else
	// DefaultProbeTimeout.
	Timeout time.Duration
	// Log receives the one line said when a probe fails (and when one
	// runs); nil is os.Stderr.
	Log io.Writer
	// Now is time.Now when nil.
	Now func() time.Time

	mu   sync.Mutex
	memo map[string]Verdict
}

// Request is one boot's question.
type Request struct {
	Mode string // auto, on, off (KVMMode)
	// Binary is the QEMU that will boot; the probe uses it too.
	Binary string
	// Arch is the guest's architecture; KVM runs only the host's.
	Arch string
	// MachineArgs choose the board (machine.args); Console is the
	// kernel's serial console name.
	MachineArgs []string
	Console     string
	// Kernel is a kernel to probe with when no verdict is cached; empty
	// means the host's own (/boot), else no probe is possible.
	Kernel string
}

// errNoKernel says why a probe could not be run.
var errNoKernel = errors.New("no kernel to probe KVM with")

// Decide returns the accelerator for r. It fails only for mode "on" when
// KVM cannot run this guest, saying why; "auto" falls back to TCG.
func (d *Decider) Decide(ctx context.Context, r Request) (Accel, error) {
	tcg := func(why string) Accel { return Accel{CPU: tcgCPU(r.Arch), Reason: why} }
	switch {
	case r.Mode == "off":
		return tcg("KVM off"), nil
	case r.Arch != hostArch():
		if r.Mode == "on" {
			return Accel{}, fmt.Errorf("--kvm on: KVM runs %s guests only on %s hosts, this one is %s: use --kvm auto or off to emulate", r.Arch, r.Arch, hostArch())
		}
		return tcg("emulating " + r.Arch + " on " + hostArch()), nil
	}
	dev := d.Device
	if dev == "" {
		dev = KVMDevice
	}
	if err := openable(dev); err != nil {
		if r.Mode == "on" {
			return Accel{}, fmt.Errorf("--kvm on: %w: this host offers no KVM; use --kvm auto or off", err)
		}
		return tcg("no usable " + dev), nil
	}
	v, err := d.verdict(ctx, r)
	switch {
	case errors.Is(err, errNoKernel) && r.Mode == "on":
		// Forced with nothing to test it with: the user's word stands.
		return Accel{KVM: true, CPU: "host", Reason: "KVM on, not probed"}, nil
	case errors.Is(err, errNoKernel):
		d.say("keel: KVM not used: %v (boot a kernel+initrd build once to probe it, or set %s=on)", err, KVMEnv)
		return tcg("KVM not probed: " + err.Error()), nil
	case err != nil:
		return Accel{}, err
	case v.Works:
		return Accel{KVM: true, CPU: v.CPU, Reason: "KVM ran a guest kernel: " + v.Reason}, nil
	case r.Mode == "on":
		return Accel{}, fmt.Errorf("--kvm on: KVM is present but cannot run guests here: %s; use --kvm auto or off", v.Reason)
	}
	return tcg("KVM present but unusable: " + v.Reason), nil
}

// verdict returns the cached verdict, or probes (once per host at a time:
// concurrent boots wait for one probe) and caches it.
func (d *Decider) verdict(ctx context.Context, r Request) (Verdict, error) {
	store := d.Store
	if store == nil {
		s, err := DefaultVerdictStore()
		if err != nil {
			return Verdict{}, err
		}
		store = s
	}
	now := d.now()
	if v, ok := d.memoGet(r.Binary); ok && v.fresh(now) {
		return v, nil
	}
	key, err := VerdictKey(r.Binary)
	if err != nil {
		return Verdict{}, err
	}
	var out Verdict
	err = store.Locked(key, func(cached *Verdict) (*Verdict, error) {
		if cached != nil && cached.fresh(now) {
			out = *cached
			return nil, nil
		}
		kernel, err := probeKernel(r.Kernel)
		if err != nil {
			return nil, err
		}
		d.say("keel: probing KVM on this host (once; cached): booting %s under KVM", kernel)
		probe := d.Probe
		if probe == nil {
			probe = RunProbe
		}
		out = probe(ctx, Probe{
			Binary: r.Binary, MachineArgs: r.MachineArgs, Console: r.Console,
			Kernel: kernel, CPU: "host", Timeout: d.timeout(),
		})
		if ctx.Err() != nil {
			// Interrupted, not a finding about the host.
			return nil, fmt.Errorf("probing KVM: %w", ctx.Err())
		}
		out.At = now
		if out.Works {
			d.say("keel: KVM works here (%s); boots use it", out.Reason)
		} else if r.Mode != "on" {
			d.say("keel: KVM present but unusable (%s); booting with TCG", out.Reason)
		}
		return &out, nil
	})
	if err != nil {
		return Verdict{}, err
	}
	d.memoPut(r.Binary, out)
	return out, nil
}

func (d *Decider) say(format string, args ...any) {
	w := d.Log
	if w == nil {
		w = os.Stderr
	}
	fmt.Fprintf(w, format+"\n", args...)
}

func (d *Decider) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Decider) timeout() time.Duration {
	if d.Timeout > 0 {
		return d.Timeout
	}
	if s := os.Getenv(ProbeTimeoutEnv); s != "" {
		if t, err := time.ParseDuration(s); err == nil && t > 0 {
			return t
		}
	}
	return DefaultProbeTimeout
}

// openable reports whether the device opens for reading and writing: the
// precondition for a probe, never the verdict.
func openable(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// probeKernel picks the kernel a probe boots: the one given, else the
// host's own.
func probeKernel(given string) (string, error) {
	if given != "" {
		return given, nil
	}
	if rel, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		k := "/boot/vmlinuz-" + strings.TrimSpace(string(rel))
		if a, err := kernelArch(k); err == nil && a == hostArch() {
			return k, nil
		}
	}
	return "", errNoKernel
}

// memoGet and memoPut keep verdicts for the life of the Decider, by QEMU
// binary: a test binary boots dozens of guests and needs to read the
// store (and ask QEMU its version) once.
func (d *Decider) memoGet(binary string) (Verdict, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	v, ok := d.memo[binary]
	return v, ok
}

func (d *Decider) memoPut(binary string, v Verdict) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.memo == nil {
		d.memo = map[string]Verdict{}
	}
	d.memo[binary] = v
}
