package run

import (
	"os"
	"runtime"
	"slices"
	"testing"
)

func TestDefaultCPUs(t *testing.T) {
	two := min(runtime.NumCPU(), 2)
	for _, tc := range []struct{ mem, want int }{
		{128, 1}, {136, 1}, {255, 1}, {256, two}, {512, two}, {1024, two}, {65536, two},
	} {
		if got := DefaultCPUs(tc.mem); got != tc.want {
			t.Errorf("DefaultCPUs(%d) = %d, want %d", tc.mem, got, tc.want)
		}
	}
}

func TestIdleIDE(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    QEMU
		arch string
		want bool
	}{
		{"pc by default", QEMU{}, "amd64", true},
		{"pc named", QEMU{Machine: "pc"}, "amd64", true},
		{"q35 has no PIIX IDE", QEMU{Machine: "q35"}, "amd64", false},
		{"arm64 virt", QEMU{}, "arm64", false},
		{"an IDE CD-ROM device", QEMU{Devices: []string{"ide-cd,drive=cd0"}}, "amd64", false},
		{"a drive on IDE", QEMU{Extra: []string{"-drive", "file=a.img,if=ide"}}, "amd64", false},
		{"-cdrom", QEMU{Extra: []string{"-cdrom", "a.iso"}}, "amd64", false},
		{"a virtio device", QEMU{Devices: []string{"virtio-scsi-pci"}}, "amd64", true},
	} {
		if got := tc.q.idleIDE(tc.arch); got != tc.want {
			t.Errorf("%s: idleIDE = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestIdleIDECmdline(t *testing.T) {
	dir := t.TempDir()
	p := dir + "/sys"
	for name, b := range map[string][]byte{"-kernel": kernelHeader("amd64"), "-initrd.img": nil, "-cmdline": []byte("console=ttyS0 quiet\n")} {
		if err := os.WriteFile(p+name, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		q    QEMU
		want string
	}{
		{QEMU{Prefix: p, KVM: "off"}, "console=ttyS0 quiet " + idleIDECmdline},
		{QEMU{Prefix: p, KVM: "off", Machine: "q35"}, "console=ttyS0 quiet"},
	} {
		args, err := tc.q.Args()
		if err != nil {
			t.Fatal(err)
		}
		i := slices.Index(args, "-append")
		if i < 0 || i+1 >= len(args) {
			t.Fatalf("no -append in %q", args)
		}
		if got := args[i+1]; got != tc.want {
			t.Errorf("machine %q: got command line %q, want %q", tc.q.Machine, got, tc.want)
		}
	}
}
