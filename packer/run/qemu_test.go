package run

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestArgs(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m")
	for _, s := range []string{"-kernel", "-initrd.img"} {
		os.WriteFile(p+s, []byte("x"), 0o644)
	}
	os.WriteFile(p+"-cmdline", []byte("console=ttyS0\n"), 0o644)
	q := &QEMU{Prefix: p, ExtraCmdline: "keel.debug", KVM: "off", Mem: 512}
	args, err := q.Args()
	if err != nil {
		t.Fatal(err)
	}
	i := slices.Index(args, "-append")
	if want := "console=ttyS0 keel.debug " + idleIDECmdline; i < 0 || args[i+1] != want {
		t.Errorf("-append = %v, want %s", args, want)
	}
	if j := slices.Index(args, "-m"); args[j+1] != "512" {
		t.Errorf("-m %s, want 512", args[j+1])
	}
	if i := slices.Index(args, "-accel"); i < 0 || args[i+1] != "tcg" {
		t.Errorf("KVM off: args %v, want -accel tcg", args)
	}
	if _, err := (&QEMU{Prefix: filepath.Join(dir, "missing")}).Args(); err == nil {
		t.Error("missing build: got nil error, want one")
	}
}

func TestParsePublish(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Publish
		err  bool
	}{
		{"2222:22", Publish{2222, 22, "tcp"}, false},
		{"8080:80/tcp", Publish{8080, 80, "tcp"}, false},
		{"5353:53/udp", Publish{5353, 53, "udp"}, false},
		{"9100", Publish{9100, 9100, "tcp"}, false},
		{"1:2/sctp", Publish{}, true},
		{"a:22", Publish{}, true},
		{"22:70000", Publish{}, true},
	} {
		got, err := ParsePublish(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("ParsePublish(%q) error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if !tc.err && got != tc.want {
			t.Errorf("ParsePublish(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestParseDiskAndEnsure(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		in   string
		want Disk
		err  bool
	}{
		{"d.img", Disk{Path: "d.img", Format: "raw"}, false},
		{"d.qcow2,size=2G", Disk{Path: "d.qcow2", Size: "2G", Format: "qcow2"}, false},
		{"d.img,format=raw,size=64M", Disk{Path: "d.img", Size: "64M", Format: "raw"}, false},
		{"d.img,if=nvme", Disk{Path: "d.img", Format: "raw", If: "nvme"}, false},
		{"d.img,if=ahci,size=1G", Disk{Path: "d.img", Size: "1G", Format: "raw", If: "ahci"}, false},
		{"d.img,if=virtio", Disk{Path: "d.img", Format: "raw"}, false},
		{"d.img,if=scsi", Disk{}, true},
		{"d.img,size=lots", Disk{}, true},
		{"d.img,colour=red", Disk{}, true},
		{",size=1G", Disk{}, true},
	} {
		got, err := ParseDisk(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("ParseDisk(%q) error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if !tc.err && got != tc.want {
			t.Errorf("ParseDisk(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	d := Disk{Path: filepath.Join(dir, "new.img"), Size: "64M", Format: "raw"}
	if err := d.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(d.Path)
	if err != nil || st.Size() != 64<<20 {
		t.Fatalf("created disk: %v, size %d, want 64 MiB", err, st.Size())
	}
	// An existing disk is left as it is.
	d.Size = "128M"
	if err := d.Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(d.Path); st.Size() != 64<<20 {
		t.Errorf("existing disk resized to %d, want it untouched", st.Size())
	}
	q := &QEMU{Prefix: filepath.Join(dir, "m"), KVM: "off", Disks: []Disk{d}, Publish: []Publish{{2222, 22, "tcp"}}}
	for _, s := range []string{"-kernel", "-initrd.img"} {
		os.WriteFile(q.Prefix+s, []byte("x"), 0o644)
	}
	args, err := q.Args()
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.Index(args, "-netdev"); i < 0 || args[i+1] != "user,id=net0,hostfwd=tcp::2222-:22" {
		t.Errorf("-netdev in %v, want user,id=net0,hostfwd=tcp::2222-:22", args)
	}
	if i := slices.Index(args, "-drive"); i < 0 || args[i+1] != "file="+d.Path+",if=virtio,format=raw" {
		t.Errorf("-drive in %v, want the disk as virtio raw", args)
	}
	if slices.Contains(args, "-chardev") {
		t.Errorf("args %v have a -chardev without GuestAgent", args)
	}
}

func TestGuestAgentArgs(t *testing.T) {
	tests := []struct {
		socket string
		want   []string
	}{
		{"", nil},
		{"/tmp/qga.sock", []string{
			"-device", "virtio-serial-pci,id=qga-serial",
			"-chardev", "socket,id=qga0,path=/tmp/qga.sock,server=on,wait=off",
			"-device", "virtserialport,bus=qga-serial.0,chardev=qga0,name=org.qemu.guest_agent.0",
		}},
		// A comma would start another option: QEMU reads ",," as one.
		{"/tmp/a,b.sock", []string{
			"-device", "virtio-serial-pci,id=qga-serial",
			"-chardev", "socket,id=qga0,path=/tmp/a,,b.sock,server=on,wait=off",
			"-device", "virtserialport,bus=qga-serial.0,chardev=qga0,name=org.qemu.guest_agent.0",
		}},
	}
	for _, tt := range tests {
		if got := guestAgentArgs(tt.socket); !slices.Equal(got, tt.want) {
			t.Errorf("%q: got %q, want %q", tt.socket, got, tt.want)
		}
	}
}

// TestArgsKernelSquashfs: a kernel+squashfs build boots its kernel and
// initrd with the root image as the virtio disk after the --disk ones,
// and root= names that disk; kernel+iso's ISO likewise, but not
// iso-bios's bootable NAME.iso.
func TestArgsKernelSquashfs(t *testing.T) {
	for _, c := range []struct {
		iso    []byte
		attach bool
	}{{make([]byte, 40*2048), true}, {fakeISO(0), false}} {
		p := filepath.Join(t.TempDir(), "m")
		for _, s := range []string{"-kernel", "-initrd.img"} {
			os.WriteFile(p+s, []byte("x"), 0o644)
		}
		os.WriteFile(p+".iso", c.iso, 0o644)
		args, err := (&QEMU{Prefix: p, KVM: "off"}).Args()
		if err != nil {
			t.Fatal(err)
		}
		drive := "file=" + p + ".iso,if=virtio,format=raw,readonly=on"
		if got := slices.Contains(args, drive); got != c.attach {
			t.Errorf("ISO attached as the root: got %v, want %v (args %v)", got, c.attach, args)
		}
	}

	dir := t.TempDir()
	p := filepath.Join(dir, "m")
	for _, s := range []string{"-kernel", "-initrd.img", "-squashfs.img"} {
		os.WriteFile(p+s, []byte("x"), 0o644)
	}
	os.WriteFile(p+"-cmdline", []byte("console=ttyS0 root=/dev/vda\n"), 0o644)
	for _, c := range []struct {
		disks int
		root  string
	}{{0, "/dev/vda"}, {2, "/dev/vdc"}} {
		q := &QEMU{Prefix: p, KVM: "off"}
		for i := range c.disks {
			q.Disks = append(q.Disks, Disk{Path: filepath.Join(dir, fmt.Sprint(i)), Format: "raw"})
		}
		args, err := q.Args()
		if err != nil {
			t.Fatal(err)
		}
		i := slices.Index(args, "-append")
		if want := "console=ttyS0 root=/dev/vda " + idleIDECmdline + " root=" + c.root; i < 0 || args[i+1] != want {
			t.Errorf("%d disks: -append %q, want %q", c.disks, args[i+1], want)
		}
		// After the --disk ones, attached the same way.
		drive := "file=" + p + "-squashfs.img,if=virtio,format=raw,readonly=on"
		if j := slices.Index(args, drive); j < 0 || args[j-1] != "-drive" || j < slices.Index(args, "-kernel") {
			t.Errorf("%d disks: args %v, want -drive %s after the others", c.disks, args, drive)
		}
	}
}

func TestVirtioDisk(t *testing.T) {
	for i, want := range map[int]string{0: "/dev/vda", 1: "/dev/vdb", 25: "/dev/vdz", 26: "/dev/vdaa", 27: "/dev/vdab", 52: "/dev/vdba"} {
		if got := virtioDisk(i); got != want {
			t.Errorf("virtioDisk(%d): got %s, want %s", i, got, want)
		}
	}
}

// The hardware of a physical machine: a q35 board, NVMe and AHCI disks,
// an e1000e NIC; a kernel+squashfs root stays the first virtio disk.
func TestArgsPhysicalMachine(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "m")
	for _, s := range []string{"-kernel", "-initrd.img", "-squashfs.img"} {
		if err := os.WriteFile(prefix+s, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	q := &QEMU{Prefix: prefix, KVM: "off", Machine: "q35",
		Networks: []Network{{Kind: "user", Model: "e1000e"}},
		Disks:    []Disk{{Path: "n.img", Format: "raw", If: "nvme"}, {Path: "a.img", Format: "raw", If: "ahci"}, {Path: "v.img", Format: "raw"}}}
	args, err := q.Args()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(args, " ")
	for _, want := range []string{
		"-machine q35",
		"-device e1000e,netdev=net0",
		"-drive if=none,id=disk0,file=n.img,format=raw -device nvme,drive=disk0,serial=keel0",
		"-device ahci,id=ahci1 -drive if=none,id=disk1,file=a.img,format=raw -device ide-hd,drive=disk1,bus=ahci1.0",
		"-drive file=v.img,if=virtio,format=raw",
		"root=/dev/vdb",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("args %q lack %q", got, want)
		}
	}
	for _, tc := range []struct {
		machine string
		secure  bool
		arch    string
		err     string
	}{
		{"virt", false, "", "want pc or q35"},
		{"q35,smm=on", false, "", "want pc or q35"},
		{"pc", true, "", "needs q35"},
		{"q35", false, "arm64", "only amd64"},
	} {
		if err := checkMachine(tc.machine, tc.arch, tc.secure); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("checkMachine(%q, %q, %v): got %v, want an error containing %q", tc.machine, tc.arch, tc.secure, err, tc.err)
		}
	}
	for _, ok := range []string{"pc", "q35", "pc-q35-7.2", "pc-i440fx-7.2"} {
		if err := checkMachine(ok, "amd64", false); err != nil {
			t.Errorf("checkMachine(%q): %v", ok, err)
		}
	}
}

func TestTPMArgs(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		tpm      TPM
		wantQEMU []string
		want2    bool
	}{
		{TPM{Dir: dir}, []string{
			"-chardev", "socket,id=chrtpm,path=" + dir + "/swtpm.sock",
			"-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
			"-device", "tpm-tis,tpmdev=tpm0",
		}, false},
		{TPM{Dir: dir + "/a,b", Version2: true}, []string{
			"-chardev", "socket,id=chrtpm,path=" + dir + "/a,,b/swtpm.sock",
			"-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
			"-device", "tpm-tis,tpmdev=tpm0",
		}, true},
	}
	for _, tt := range tests {
		if got := tt.tpm.qemuArgs(); !slices.Equal(got, tt.wantQEMU) {
			t.Errorf("qemuArgs of %+v = %q, want %q", tt.tpm, got, tt.wantQEMU)
		}
		a := tt.tpm.args()
		if got := slices.Contains(a, "--tpm2"); got != tt.want2 {
			t.Errorf("swtpm args %q: --tpm2 present %v, want %v", a, got, tt.want2)
		}
		if i := slices.Index(a, "--ctrl"); i < 0 || a[i+1] != "type=unixio,path="+escapeOpt(tt.tpm.socket()) {
			t.Errorf("swtpm args %q: --ctrl is not the socket QEMU connects to", a)
		}
	}
}

// TestTPMStart runs the real swtpm: its control socket must appear, a
// second start on the same state must be refused while it runs, and Stop
// must end it.
func TestTPMStart(t *testing.T) {
	if _, err := exec.LookPath("swtpm"); err != nil {
		t.Skip("swtpm not installed (Debian's swtpm; scripts/ensure-deps.sh)")
	}
	tpm := &TPM{Dir: filepath.Join(t.TempDir(), "tpm")}
	if err := tpm.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	pid, ok := tpm.running()
	if !ok {
		t.Fatal("swtpm not running after Start")
	}
	if _, err := os.Stat(tpm.socket()); err != nil {
		t.Errorf("control socket: %v", err)
	}
	if err := (&TPM{Dir: tpm.Dir}).Start(t.Context()); err == nil || !strings.Contains(err.Error(), "already serves") {
		t.Errorf("second Start on a served state: got %v, want an 'already serves' error", err)
	}
	tpm.Stop()
	for i := 0; i < 100; i++ {
		if _, ok := tpm.running(); !ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Errorf("swtpm (pid %d) still runs after Stop", pid)
}
