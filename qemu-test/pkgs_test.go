package qemutest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// TestLinuxKitPackages boots examples/minimal.yml with
// testdata/pkgs-check.yml: one system carrying the rngd, sysfs, binfmt,
// losetup, dummy, acpid, extend, trim-after-delete, dm-crypt, qemu-ga and
// firmware packages as LinuxKit's examples use them, each checked by what the kernel
// reports after it ran, and the disks by what they hold after the boot. Under TCG the guest CPU
// is QEMU's "max", which has RDRAND and RDSEED. The machine is powered
// off by pressing its ACPI power button from QEMU's monitor: nothing else
// in it asks for a power-off, so a clean exit is acpid's doing.
func TestLinuxKitPackages(t *testing.T) {
	require(t)
	prefix := buildImage(t, "examples/minimal.yml", "qemu-test/testdata/pkgs-check.yml")

	dir := t.TempDir()
	mon := filepath.Join(dir, "mon.sock")
	qga := filepath.Join(dir, "qga.sock")
	cryptDisk := filepath.Join(dir, "crypt.img")
	if err := os.WriteFile(cryptDisk, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// LUKS2's header takes 16 MiB of the 48.
	if err := os.Truncate(cryptDisk, 48<<20); err != nil {
		t.Fatal(err)
	}
	extDisk := grownDisk(t, dir)
	ctx, c := bootGuest(t, 6*time.Minute, run.QEMU{Prefix: prefix, GuestAgent: qga,
		Disks: []run.Disk{{Path: cryptDisk, Format: "raw"}, {Path: extDisk, Format: "raw"}}},
		"-monitor", "unix:"+mon+",server=on,wait=off")

	for _, s := range []step{
		// rngd: the RNDADDENTROPY ioctl succeeded (each line is printed only
		// after it did), once as an onboot container and once as a service.
		{"rngd -1 fed the pool and exited", regexp.MustCompile(`rngd1: rngd: wrote \d+ bytes of entropy from RD(SEED|RAND)\S* into the kernel's pool .*exiting as oneshot`)},
		{"onboot rngd1 exited 0", regexp.MustCompile(`svcd: onboot rngd1 exited 0`)},
		{"the rngd service fed the pool", regexp.MustCompile(`rngd: rngd: fed 8 bytes from RD(SEED|RAND)\S* into the kernel's pool`)},
		{"sysfs wrote its setting", regexp.MustCompile(`sysfs: sysfs: kernel/mm/transparent_hugepage/enabled = madvise`)},
		{"binfmt registered the handler", regexp.MustCompile(`binfmt: binfmt: registered keel-test \(interpreter /bin/busybox\)`)},
		{"loopy attached the file", regexp.MustCompile(`loop: loopy: associated file /var/loop-storage with loop device /dev/loop\d+`)},
		{"dummy ran from its image", regexp.MustCompile(`dummy: dummy: /infile says "This is a silly input file for testing."`)},
		{"acpid watches the power button", regexp.MustCompile(`acpid: acpid: watching /dev/input/event\d+ \(Power Button\) for the power button`)},
		{"extend grew vdb1", regexp.MustCompile(`extend: extend: /dev/vdb: partition 1 grown from 31 to 63 MiB \(dos table\)`)},
		{"extend resized the filesystem", regexp.MustCompile(`extend: extend: /dev/vdb: successfully resized /dev/vdb1`)},
		{"fstrim trimmed the grown filesystem", regexp.MustCompile(`trim: /var/ext: \d+ bytes trimmed`)},
		{"dm-crypt formatted the blank disk as LUKS", regexp.MustCompile(`dm-crypt: crypto: /dev/vda has no LUKS header: formatting it as LUKS`)},
		{"dm-crypt made the filesystem", regexp.MustCompile(`dm-crypt: crypto: /dev/mapper/crypt_dev is ready`)},
		{"onboot secret exited 0", regexp.MustCompile(`svcd: onboot secret exited 0`)},
		{"trim-after-delete waits for Docker", regexp.MustCompile(`trim-after-delete: trim-after-delete: will run /sbin/fstrim /var/lib/docker at most 10s after Docker deletes an image`)},
		{"the check finished", regexp.MustCompile(`PKGCHECK-END`)},
	} {
		_, at, err := c.Expect(ctx, 0, s.re)
		if err != nil {
			t.Fatalf("%s: %v\nlast console lines:\n%s", s.what, err, c.Tail(80))
		}
		t.Logf("%6.2fs  %s", at.Seconds(), s.what)
	}
	// qemu-ga answers through the virtio-serial channel.
	info, err := guestAgentTalk(ctx, qga)
	if err != nil {
		t.Fatalf("qemu-ga: %v\nlast console lines:\n%s", err, c.Tail(60))
	}
	t.Logf("qemu-ga: guest-ping answered, guest-info says version %s with %d commands", info.Version, len(info.Commands))
	if err := monitorCommand(mon, "system_powerdown"); err != nil {
		t.Fatal(err)
	}
	expectSteps(ctx, t, c, []step{
		{"acpid saw the button", regexp.MustCompile(`acpid: acpid: power button pressed \(/dev/input/event\d+, Power Button\): powering off`)},
		{"init shut down for power-off", regexp.MustCompile(`init: shutdown \(power off\)`)},
	})

	var loops []string
	got := map[string]string{}
	for _, l := range c.Lines(0, -1) {
		_, rest, ok := strings.Cut(l, "PKGCHECK ")
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		t.Logf("guest: %s", rest)
		if strings.HasPrefix(rest, "loop ") {
			loops = append(loops, rest)
		}
		k, v, _ := strings.Cut(rest, "=")
		got[k] = v
	}
	// The kernel's view of each package's work.
	if v := got["thp"]; !strings.Contains(v, "[madvise]") {
		t.Errorf("sysfs: got transparent_hugepage/enabled %q, want [madvise] selected (Debian's default is always)", v)
	}
	for _, want := range []string{"binfmt enabled", "binfmt interpreter /bin/busybox", "binfmt magic 234b45454c42494e464d54"} {
		if _, ok := got[want]; !ok {
			t.Errorf("binfmt: /proc/sys/fs/binfmt_misc/keel-test lacks %q", want)
		}
	}
	if v := got["binfmt-exec"]; v != "via-handler" {
		t.Errorf("binfmt: running a file with the handler's magic printed %q, want via-handler (busybox echo as its interpreter)", v)
	}
	// 16 MiB is 32768 sectors of 512 bytes.
	attached := false
	for _, l := range loops {
		if f := strings.Fields(l); len(f) == 4 && strings.HasSuffix(f[2], "/loop-storage") && f[3] == "32768" {
			attached = true
		}
	}
	if !attached {
		t.Errorf("losetup: no loop device backed by /var/loop-storage with 32768 sectors; the kernel lists:\n%s", strings.Join(loops, "\n"))
	}
	svc := false
	for k := range got {
		if strings.HasPrefix(k, "svc rngd ") && strings.Contains(k, "running") {
			svc = true
		}
	}
	if !svc {
		t.Errorf("the rngd service is not running in svcctl list")
	}
	// dm-crypt: a LUKS mapping of vda holds the file the onboot wrote.
	if v := got["crypt-uuid"]; !strings.HasPrefix(v, "CRYPT-LUKS2-") {
		t.Errorf("dm-crypt: dm-0's uuid is %q, want CRYPT-LUKS2-... (a LUKS2 mapping)", v)
	}
	if got["crypt-name"] != "crypt_dev" || got["crypt-slaves"] != "vda" {
		t.Errorf("dm-crypt: dm-0 is %q over %q, want crypt_dev over vda", got["crypt-name"], got["crypt-slaves"])
	}
	if v := got["secret"]; v != "secret things" {
		t.Errorf("dm-crypt: read back %q through the mapping, want %q", v, "secret things")
	}
	// 63 MiB is 129024 sectors.
	if v := got["vdb1-sectors"]; v != "129024" {
		t.Errorf("extend: the kernel sees vdb1 with %s sectors, want 129024 (63 MiB)", v)
	}
	// firmware: Debian's firmware-linux-free under the root's /lib/firmware
	// (25 files; isci's is 232 bytes).
	if got["firmware-isci"] != "232" || got["firmware-files"] != "25" {
		t.Errorf("firmware: /lib/firmware/isci/isci_firmware.bin is %q bytes and /lib/firmware holds %q files, want 232 and 25", got["firmware-isci"], got["firmware-files"])
	}
	checkCryptDisk(t, cryptDisk)
	checkGrownDisk(t, extDisk)
	t.Logf("entropy_avail after boot: %s", got["entropy_avail"])
	if t.Failed() {
		t.Logf("console:\n%s", c.Tail(100))
	}
}
