package qemutest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/internal/bootlog"
	"github.com/keel-os/keel/packer/run"
)

// TestInitPID1 builds examples/minimal.yml plus the init checker once and
// boots it twice. Boot 1: PID 1's mounts, limits and boot record, an orphan
// storm (zero zombies), svcd killed with -9 coming back, and /sbin/reboot
// ending QEMU (-no-reboot). Boot 2: a virtio disk found by coldplug and
// a hot-added virtio SCSI controller getting its module from the uevent
// listener, and ctrl-alt-del from QEMU's monitor ending in a clean reboot.
func TestInitPID1(t *testing.T) {
	require(t)
	prefix := buildImage(t, "examples/minimal.yml", "qemu-test/testdata/init-check.yml")

	t.Run("storm-svcd-reboot", func(t *testing.T) {
		ctx, c := bootGuest(t, 10*time.Minute, run.QEMU{Prefix: prefix, ExtraCmdline: "keel.shutdown_timeout=20"})
		expect := func(what, re string) []string {
			t.Helper()
			return expectMatch(ctx, t, c, what, re)
		}
		rss := expect("init's RSS reported", `KEEL-INITCHECK-RSS (\d+ kB)`)
		t.Logf("VmRSS of PID 1: %s", rss[1])
		if m := expect("open-file limit", `KEEL-INITCHECK-NOFILE (\S+)`); m[1] != "1048576" {
			t.Errorf("PID 1's open-file limit: got %s, want 1048576", m[1])
		}
		if m := expect("resolv.conf", `KEEL-INITCHECK-RESOLV (\S*)`); m[1] != "/run/resolvconf/resolv.conf" {
			t.Errorf("/etc/resolv.conf: got link %q, want /run/resolvconf/resolv.conf", m[1])
		}
		mounts := expect("mounts", `KEEL-INITCHECK-MOUNTS (.*)`)[1]
		t.Logf("PID 1's mounts: %s", mounts)
		for _, want := range []string{"/var=tmpfs", "/dev/mqueue=mqueue", "/dev/shm=tmpfs", "/run=tmpfs", "/tmp=tmpfs", "/sys/fs/cgroup=cgroup2"} {
			if !strings.Contains(" "+mounts+" ", " "+want+" ") {
				t.Errorf("PID 1's mounts: no %s in %s", want, mounts)
			}
		}
		if m := expect("root read-only", `KEEL-INITCHECK-ROOT (\S*) CONTAINERS (\S*)`); m[1] != "ro" || m[2] != "rw" {
			t.Errorf("mounts: got / %q and /containers %q, want / ro and /containers rw", m[1], m[2])
		}
		t.Logf("hostname: %s", expect("hostname", `KEEL-INITCHECK-HOSTNAME (.*)`)[1])
		logBootRecord(t, expect("boot record", `KEEL-INITCHECK-BOOTJSON (.*)`)[1])

		storm := expect("orphan storm", `KEEL-INITCHECK-STORM adopted=(\d+) total=(\d+) allreaped=(\w+) zombies=(\d+)`)
		t.Logf("orphan storm: %s of %s adopted by PID 1", storm[1], storm[2])
		if storm[3] != "true" || storm[4] != "0" {
			t.Errorf("orphan storm: got allreaped=%s zombies=%s, want true and 0", storm[3], storm[4])
		}
		if m := expect("svcd after kill -9", `KEEL-INITCHECK-SVCD old=(\d+) new=(\d+) answers=(\w+)`); m[3] != "true" {
			t.Errorf("svcd after kill -9: got new pid %s answering=%s, want a new svcd answering svcctl list", m[2], m[3])
		}
		expect("reboot requested", `KEEL-INITCHECK-REBOOTING`)
		orphans := expect("orphans reaped", `init: shutdown \(reboot\): (\d+) orphans reaped`)[1]
		if n, _ := strconv.Atoi(orphans); n < 201 {
			t.Errorf("PID 1 reaped %d orphans, want at least the storm's 201", n)
		}
		t.Logf("PID 1 reaped %s orphans", orphans)
		expect("init reboots", `init: shutdown: reboot`)
		if err := c.Wait(ctx); err != nil {
			t.Fatalf("qemu did not exit cleanly after reboot: %v\nlast console lines:\n%s", err, c.Tail(40))
		}
		if _, _, err := c.Expect(ctx, 0, regexp.MustCompile(`KEEL-INITCHECK-FAIL`)); err == nil {
			t.Errorf("the checker reported a failure:\n%s", c.Tail(80))
		}
	})

	t.Run("coldplug-ctrl-alt-del", func(t *testing.T) {
		dir := t.TempDir()
		disk := filepath.Join(dir, "disk.img")
		if err := os.WriteFile(disk, make([]byte, 8<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		mon := filepath.Join(dir, "mon.sock")
		ctx, c := bootGuest(t, 10*time.Minute, run.QEMU{Prefix: prefix, ExtraCmdline: "initcheck.mode=cad keel.shutdown_timeout=20"},
			"-drive", "file="+disk+",if=virtio,format=raw", "-monitor", "unix:"+mon+",server=on,wait=off")
		i, _, err := c.Expect(ctx, 0, regexp.MustCompile(`KEEL-INITCHECK-BLOCK`))
		if err != nil {
			t.Fatalf("block devices: %v\nlast console lines:\n%s", err, c.Tail(80))
		}
		if line := c.Lines(i, i+1)[0]; !strings.Contains(line+" ", " vda ") {
			t.Errorf("block devices: got %q, want vda (virtio_blk loaded by coldplug)", line)
		}
		if _, _, err := c.Expect(ctx, i, regexp.MustCompile(`KEEL-INITCHECK-READY-FOR-HOTPLUG`)); err != nil {
			t.Fatalf("checker ready for hotplug: %v\nlast console lines:\n%s", err, c.Tail(80))
		}
		if err := monitorCommand(mon, "device_add virtio-scsi-pci,id=hpscsi"); err != nil {
			t.Fatal(err)
		}
		if j, at, err := c.Expect(ctx, i, regexp.MustCompile(`KEEL-INITCHECK-HOTPLUG`)); err != nil {
			t.Fatalf("hotplug: %v\nlast console lines:\n%s", err, c.Tail(80))
		} else if line := c.Lines(j, j+1)[0]; !strings.Contains(line, "virtio_scsi=true") {
			t.Errorf("hotplug: got %q, want virtio_scsi loaded for the hot-added controller\n%s", line, c.Tail(40))
		} else {
			t.Logf("%6.2fs  hot-added virtio SCSI controller got its module", at.Seconds())
		}
		if _, _, err := c.Expect(ctx, i, regexp.MustCompile(`KEEL-INITCHECK-READY-FOR-CAD`)); err != nil {
			t.Fatalf("checker ready: %v\nlast console lines:\n%s", err, c.Tail(80))
		}
		if err := monitorCommand(mon, "sendkey ctrl-alt-delete"); err != nil {
			t.Fatal(err)
		}
		if _, at, err := c.Expect(ctx, i, regexp.MustCompile(`init: got .*: shutting down to reboot`)); err != nil {
			t.Fatalf("ctrl-alt-del: %v\nlast console lines:\n%s", err, c.Tail(80))
		} else {
			t.Logf("%6.2fs  ctrl-alt-del started a reboot", at.Seconds())
		}
		if err := c.Wait(ctx); err != nil {
			t.Fatalf("qemu did not exit cleanly after ctrl-alt-del: %v\nlast console lines:\n%s", err, c.Tail(40))
		}
	})
}

// logBootRecord logs the boot steps and the time from kernel start to svcd
// started, from init's own record.
func logBootRecord(t *testing.T, raw string) {
	t.Helper()
	var l bootlog.Log
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		t.Errorf("boot record %q: %v", raw, err)
		return
	}
	for _, s := range l.Steps {
		t.Logf("  boot step %-13s stage %d at %8.3fs took %8.3fs", s.Name, s.Stage, float64(s.StartNS)/1e9, float64(s.DurationNS)/1e9)
		if s.Error != "" {
			t.Errorf("boot step %s failed: %s", s.Name, s.Error)
		}
		if s.Name == "svcd" {
			t.Logf("kernel start to svcd started: %.3fs (guest clock)", float64(s.StartNS+s.DurationNS)/1e9)
		}
	}
}
