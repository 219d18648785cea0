package run

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// kernelHeader returns the first bytes of a kernel of arch, as its boot
// protocol lays them out ("" is an unrecognised one).
func kernelHeader(arch string) []byte {
	b := make([]byte, 0x400)
	switch arch {
	case "arm64":
		copy(b[56:], "ARM\x64")
	case "amd64":
		copy(b[0x202:], "HdrS")
	}
	return b
}

func TestArchArgs(t *testing.T) {
	for _, tc := range []struct {
		name, kernel, arch string
		wantBin            string
		want, notWant      []string
		appendWant         string
		err                string
	}{
		{name: "arm64 kernel detected", kernel: "arm64", wantBin: "qemu-system-aarch64",
			want: []string{"virt", "max"}, notWant: []string{"pvpanic"}, appendWant: "console=ttyS0 console=ttyAMA0"},
		{name: "arm64 asked for", kernel: "arm64", arch: "arm64", wantBin: "qemu-system-aarch64",
			want: []string{"virt"}, appendWant: "console=ttyS0 console=ttyAMA0"},
		{name: "amd64 kernel", kernel: "amd64", wantBin: "qemu-system-x86_64",
			want: []string{"pvpanic", "max,-erms,-fsrm"}, notWant: []string{"virt", "max"}, appendWant: "console=ttyS0 " + idleIDECmdline},
		{name: "unknown kernel defaults to amd64", kernel: "", wantBin: "qemu-system-x86_64", appendWant: "console=ttyS0 " + idleIDECmdline},
		{name: "unknown kernel, arm64 asked for", kernel: "", arch: "arm64", wantBin: "qemu-system-aarch64", want: []string{"virt"}},
		{name: "mismatch", kernel: "amd64", arch: "arm64", err: "is an amd64 kernel"},
		{name: "unknown arch", kernel: "", arch: "mips", err: `"mips" cannot be booted`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "m")
			os.WriteFile(p+"-kernel", kernelHeader(tc.kernel), 0o644)
			os.WriteFile(p+"-initrd.img", []byte("x"), 0o644)
			os.WriteFile(p+"-cmdline", []byte("console=ttyS0\n"), 0o644)
			q := &QEMU{Prefix: p, Arch: tc.arch, KVM: "off"}
			args, err := q.Args()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Args: got %v, want an error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if bin, err := q.Program(); err != nil || bin != tc.wantBin {
				t.Errorf("Program = %q, %v; want %s", bin, err, tc.wantBin)
			}
			for _, w := range tc.want {
				if !slices.Contains(args, w) {
					t.Errorf("args lack %s: %v", w, args)
				}
			}
			for _, w := range tc.notWant {
				if slices.Contains(args, w) {
					t.Errorf("args have %s: %v", w, args)
				}
			}
			if tc.appendWant != "" {
				if i := slices.Index(args, "-append"); i < 0 || args[i+1] != tc.appendWant {
					t.Errorf("-append = %v, want %q", args, tc.appendWant)
				}
			}
		})
	}
}

func TestArchKVMOnForeignGuest(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m")
	os.WriteFile(p+"-kernel", kernelHeader("arm64"), 0o644)
	os.WriteFile(p+"-initrd.img", []byte("x"), 0o644)
	if hostArch() == "arm64" {
		t.Skip("the host is arm64: KVM can run the guest")
	}
	_, err := (&QEMU{Prefix: p, KVM: "on"}).Args()
	if err == nil || !strings.Contains(err.Error(), "KVM") {
		t.Errorf("--kvm on for an arm64 guest on %s: got %v, want an error about KVM", hostArch(), err)
	}
}
