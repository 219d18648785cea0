package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// TestRunQEMUBrokenKVM runs `keel run qemu` on a host whose /dev/kvm opens
// but whose QEMU aborts or hangs under KVM (a stand-in QEMU on PATH, a file
// standing in for /dev/kvm): the boot falls back to TCG with one line
// saying why, the verdict is cached for the next boot, and --kvm on fails
// within the probe's deadline instead of hanging.
func TestRunQEMUBrokenKVM(t *testing.T) {
	if run.KVMDevice != "/dev/kvm" {
		t.Fatal("KVMDevice changed by another test")
	}
	dir := t.TempDir()
	fake, err := os.ReadFile("../run/testdata/fake-qemu.sh")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "qemu-system-x86_64"), fake, 0o755); err != nil {
		t.Fatal(err)
	}
	dev := filepath.Join(dir, "kvm")
	os.WriteFile(dev, nil, 0o600)
	run.KVMDevice = dev
	t.Cleanup(func() { run.KVMDevice = "/dev/kvm" })
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	t.Setenv(run.ProbeTimeoutEnv, "2s")
	t.Setenv(run.KVMEnv, "")

	// A kernel+initrd build whose kernel has x86's boot header.
	prefix := filepath.Join(dir, "sys")
	kernel := make([]byte, 0x400)
	copy(kernel[0x202:], "HdrS")
	os.WriteFile(prefix+"-kernel", kernel, 0o644)
	os.WriteFile(prefix+"-initrd.img", []byte("initrd"), 0o644)

	for _, tc := range []struct {
		fake, args string
		wantCode   int
		wantErr    string
		wantAccel  string // in the boot's QEMU arguments
	}{
		{fake: "abort", args: "run qemu " + prefix, wantAccel: "-accel tcg", wantErr: "KVM present but unusable (qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69"},
		{fake: "hang", args: "run qemu " + prefix, wantAccel: "-accel tcg", wantErr: "KVM present but unusable (the guest kernel did not finish in 2s"},
		{fake: "hang", args: "run qemu --kvm on " + prefix, wantCode: 1, wantErr: "--kvm on: KVM is present but cannot run guests here: the guest kernel did not finish in 2s"},
		{fake: "works", args: "run qemu " + prefix, wantAccel: "-accel kvm -cpu host", wantErr: "KVM works here"},
		{fake: "abort", args: "run qemu --kvm off " + prefix, wantAccel: "-accel tcg"},
	} {
		t.Run(tc.fake+" "+strings.Fields(tc.args)[2], func(t *testing.T) {
			t.Setenv("XDG_CACHE_HOME", t.TempDir())
			t.Setenv("FAKE_KVM", tc.fake)
			log := filepath.Join(t.TempDir(), "qemu.log")
			t.Setenv("FAKE_QEMU_LOG", log)
			boot := func() (int, string, time.Duration) {
				var stdout, stderr bytes.Buffer
				start := time.Now()
				code := Run(context.Background(), strings.Fields(tc.args), strings.NewReader(""), &stdout, &stderr)
				return code, stderr.String(), time.Since(start)
			}
			code, stderr, took := boot()
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			if took > 15*time.Second {
				t.Errorf("took %s, want it bounded by the 2s probe deadline", took)
			}
			if !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", stderr, tc.wantErr)
			}
			runs, _ := os.ReadFile(log)
			lines := strings.Split(strings.TrimSpace(string(runs)), "\n")
			if tc.wantAccel == "" {
				return
			}
			if last := lines[len(lines)-1]; !strings.Contains(last, tc.wantAccel) || !strings.Contains(last, "-initrd") {
				t.Errorf("boot ran QEMU with %q, want %q", last, tc.wantAccel)
			}
			// The next boot reads the verdict: QEMU runs once more, not
			// twice, and says nothing about KVM.
			_, stderr, _ = boot()
			runs2, _ := os.ReadFile(log)
			if n := strings.Count(string(runs2), "\n") - len(lines); n != 1 {
				t.Errorf("second boot ran QEMU %d times, want once (cached verdict)", n)
			}
			if strings.Contains(stderr, "KVM") {
				t.Errorf("second boot said %q, want nothing about KVM", stderr)
			}
		})
	}
}

func TestVersion(t *testing.T) {
	Version = "v9.8.7"
	t.Cleanup(func() { Version = "" })
	for _, tc := range []struct{ args, want string }{
		{"version", "keel v9.8.7\ncommit: "},
		{"version --json", `"version": "v9.8.7"`},
	} {
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), strings.Fields(tc.args), strings.NewReader(""), &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.args, code, stderr.String())
		}
		if !strings.Contains(stdout.String(), tc.want) || !strings.Contains(stdout.String(), "go1.") {
			t.Errorf("%s: got %q, want it to contain %q and the Go version", tc.args, stdout.String(), tc.want)
		}
	}
}
