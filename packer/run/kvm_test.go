package run

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeQEMU installs testdata/fake-qemu.sh as qemu-system-x86_64.
func fakeQEMU(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "qemu-system-x86_64")
	script, err := os.ReadFile("testdata/fake-qemu.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, script, 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

// fakeDevice stands a file in for /dev/kvm.
func fakeDevice(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kvm")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunProbe(t *testing.T) {
	bin := fakeQEMU(t)
	for _, tc := range []struct {
		fake   string
		works  bool
		reason string
	}{
		{"works", true, "probe boot took"},
		{"abort", false, "failed to set MSR 0x10a"},
		{"hang", false, "did not finish in 1s"},
		{"silent-exit", false, "exited without the guest kernel running"},
	} {
		t.Run(tc.fake, func(t *testing.T) {
			t.Setenv("FAKE_KVM", tc.fake)
			start := time.Now()
			v := RunProbe(context.Background(), Probe{Binary: bin, Kernel: "/k", CPU: "host", Timeout: time.Second})
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("probe took %s, want it bounded by its 1s deadline", took)
			}
			if v.Works != tc.works || !strings.Contains(v.Reason, tc.reason) {
				t.Errorf("got works=%v reason %q, want works=%v reason containing %q", v.Works, v.Reason, tc.works, tc.reason)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	bin := fakeQEMU(t)
	dev := fakeDevice(t)
	works := Verdict{Works: true, CPU: "host", Reason: "probe boot took 1.00s"}
	aborts := Verdict{CPU: "host", Reason: "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69; qemu: signal: aborted"}
	hangs := Verdict{CPU: "host", Reason: "no output in 15s"}
	other := "arm64"
	if hostArch() == "arm64" {
		other = "amd64"
	}
	for _, tc := range []struct {
		name    string
		mode    string
		arch    string
		device  string
		kernel  string
		probe   *Verdict // nil: the probe must not run
		wantKVM bool
		wantErr string
		wantMsg string // in the log
	}{
		{name: "works", mode: "auto", probe: &works, wantKVM: true, wantMsg: "KVM works here"},
		{name: "aborts", mode: "auto", probe: &aborts, wantMsg: "KVM present but unusable (qemu-system-x86_64: error: failed to set MSR"},
		{name: "hangs", mode: "auto", probe: &hangs, wantMsg: "no output in 15s); booting with TCG"},
		{name: "on works", mode: "on", probe: &works, wantKVM: true},
		{name: "on aborts", mode: "on", probe: &aborts, wantErr: "KVM is present but cannot run guests here: qemu-system-x86_64: error: failed to set MSR"},
		{name: "on hangs", mode: "on", probe: &hangs, wantErr: "no output in 15s"},
		{name: "off", mode: "off"},
		{name: "no device", mode: "auto", device: "/nonexistent/kvm"},
		{name: "on without device", mode: "on", device: "/nonexistent/kvm", wantErr: "this host offers no KVM"},
		{name: "other arch", mode: "auto", arch: other},
		{name: "on other arch", mode: "on", arch: other, wantErr: "KVM runs " + other + " guests only on"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probed := 0
			var log bytes.Buffer
			d := &Decider{
				Device: dev, Store: DirStore(t.TempDir()), Log: &log,
				Probe: func(ctx context.Context, p Probe) Verdict {
					probed++
					if tc.probe == nil {
						t.Errorf("probe ran, want none")
						return Verdict{}
					}
					if p.Kernel != "/k" || p.Binary != bin {
						t.Errorf("probe of kernel %q with %q, want /k with %q", p.Kernel, p.Binary, bin)
					}
					return *tc.probe
				},
			}
			if tc.device != "" {
				d.Device = tc.device
			}
			arch := tc.arch
			if arch == "" {
				arch = hostArch()
			}
			a, err := d.Decide(context.Background(), Request{Mode: tc.mode, Binary: bin, Arch: arch, Kernel: "/k"})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.KVM != tc.wantKVM {
				t.Errorf("got %s, want kvm=%v", a, tc.wantKVM)
			}
			if tc.probe != nil && probed != 1 {
				t.Errorf("probe ran %d times, want once", probed)
			}
			if !strings.Contains(log.String(), tc.wantMsg) {
				t.Errorf("log %q, want it to contain %q", log.String(), tc.wantMsg)
			}
			if a.KVM && strings.Join(a.Args(), " ") != "-accel kvm -cpu host" {
				t.Errorf("args %v, want -accel kvm -cpu host", a.Args())
			}
			// Emulated x86 leaves out ERMS and FSRM (tcgCPUAMD64); arm64
			// emulates "max" whole.
			wantTCG := map[string]string{"amd64": "-accel tcg -cpu max,-erms,-fsrm", "arm64": "-accel tcg -cpu max"}[arch]
			if !a.KVM && strings.Join(a.Args(), " ") != wantTCG {
				t.Errorf("args %v, want %s", a.Args(), wantTCG)
			}
		})
	}
}

// A verdict is probed once per host: a second process (a new Decider on
// the same store) reads it; a failed one is tried again after a day.
func TestDecideCached(t *testing.T) {
	bin := fakeQEMU(t)
	dev := fakeDevice(t)
	store := DirStore(t.TempDir())
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		first      Verdict
		later      time.Duration
		wantProbes int
	}{
		{Verdict{Works: true, CPU: "host", Reason: "ok"}, 365 * 24 * time.Hour, 1},
		{Verdict{CPU: "host", Reason: "no output in 15s"}, time.Hour, 1},
		{Verdict{CPU: "host", Reason: "no output in 15s"}, 25 * time.Hour, 2},
	} {
		os.RemoveAll(string(store))
		probes := 0
		decide := func(at time.Time) Accel {
			d := &Decider{Device: dev, Store: store, Log: &bytes.Buffer{}, Now: func() time.Time { return at },
				Probe: func(context.Context, Probe) Verdict { probes++; return tc.first }}
			a, err := d.Decide(context.Background(), Request{Mode: "auto", Binary: bin, Arch: hostArch(), Kernel: "/k"})
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		a1, a2 := decide(now), decide(now.Add(tc.later))
		if probes != tc.wantProbes {
			t.Errorf("verdict %q, asked again after %s: %d probes, want %d", tc.first.Reason, tc.later, probes, tc.wantProbes)
		}
		if a1.KVM != tc.first.Works || a2.KVM != tc.first.Works {
			t.Errorf("verdict %q: got %s then %s", tc.first.Reason, a1, a2)
		}
	}
}

func TestDecideNoKernel(t *testing.T) {
	bin := fakeQEMU(t)
	d := &Decider{Device: fakeDevice(t), Store: DirStore(t.TempDir()), Log: &bytes.Buffer{},
		Probe: func(context.Context, Probe) Verdict { t.Error("probe ran without a kernel"); return Verdict{} }}
	if _, err := os.Stat("/boot/vmlinuz-" + hostRelease(t)); err == nil {
		t.Skip("this host has its own kernel in /boot: the probe would use it")
	}
	a, err := d.Decide(context.Background(), Request{Mode: "auto", Binary: bin, Arch: hostArch()})
	if err != nil || a.KVM || !strings.Contains(a.Reason, "not probed") {
		t.Errorf("auto without a kernel: got %s, %v; want tcg, not probed", a, err)
	}
	a, err = d.Decide(context.Background(), Request{Mode: "on", Binary: bin, Arch: hostArch()})
	if err != nil || !a.KVM {
		t.Errorf("on without a kernel: got %s, %v; want kvm as forced", a, err)
	}
}

func hostRelease(t *testing.T) string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		t.Skip(err)
	}
	return strings.TrimSpace(string(b))
}

func TestKVMMode(t *testing.T) {
	for _, tc := range []struct {
		flag, env, want string
		err             bool
	}{
		{"", "", "auto", false},
		{"", "off", "off", false},
		{"", "on", "on", false},
		{"on", "off", "on", false},
		{"auto", "off", "auto", false},
		{"", "yes", "", true},
		{"maybe", "", "", true},
	} {
		t.Setenv(KVMEnv, tc.env)
		got, err := KVMMode(tc.flag)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("KVMMode(%q) with %s=%q = %q, %v; want %q (error %v)", tc.flag, KVMEnv, tc.env, got, err, tc.want, tc.err)
		}
	}
}

func TestDirStoreDamagedEntry(t *testing.T) {
	store := DirStore(t.TempDir())
	if err := os.WriteFile(filepath.Join(string(store), "k.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := store.Locked("k", func(v *Verdict) (*Verdict, error) {
		if v != nil {
			t.Errorf("damaged entry read as %+v, want none", v)
		}
		return &Verdict{Works: true, Reason: "x"}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	store.Locked("k", func(v *Verdict) (*Verdict, error) {
		if v == nil || !v.Works {
			t.Errorf("stored verdict read back as %+v, want works", v)
		}
		return nil, nil
	})
}

// BenchmarkDecideCached is what every boot after the first pays for the
// decision in a new process: the verdict key and one read of the store.
func BenchmarkDecideCached(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "qemu-system-x86_64")
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	dev := filepath.Join(dir, "kvm")
	os.WriteFile(dev, nil, 0o600)
	store := DirStore(filepath.Join(dir, "store"))
	r := Request{Mode: "auto", Binary: bin, Arch: hostArch(), Kernel: "/k"}
	works := func(context.Context, Probe) Verdict { return Verdict{Works: true, CPU: "host", Reason: "ok"} }
	if _, err := (&Decider{Device: dev, Store: store, Probe: works, Log: &bytes.Buffer{}}).Decide(context.Background(), r); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		d := &Decider{Device: dev, Store: store, Log: &bytes.Buffer{},
			Probe: func(context.Context, Probe) Verdict { b.Fatal("probed again"); return Verdict{} }}
		if a, err := d.Decide(context.Background(), r); err != nil || !a.KVM {
			b.Fatalf("got %s, %v", a, err)
		}
	}
}
