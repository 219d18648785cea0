package qemutest

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/build"
	"github.com/keel-os/keel/packer/run"
)

// TestBareMetal boots examples/bare-metal.yml as an iso-efi image (what a
// physical machine boots from a USB stick or its BMC's virtual media) on
// emulated physical hardware: a q35 board (PCIe, the CD-ROM on its ICH9
// AHCI controller), UEFI, an Intel e1000e NIC and an NVMe disk, and no
// virtio NIC or disk. The generic kernel's drivers must bind to each
// device as loaded modules (the cloud kernel's default set has neither
// e1000e nor ahci), the free firmware must be in the root, and eth0 must
// get QEMU's DHCP lease.
func TestBareMetal(t *testing.T) {
	require(t)
	res, _ := buildWith(t, build.Options{Format: "iso-efi"},
		"examples/bare-metal.yml", "qemu-test/testdata/bare-metal-check.yml", "qemu-test/testdata/net-check.yml")
	// keel run qemu --machine q35 --networking user,model=e1000e
	// --disk nvme.img,size=64M,if=nvme ISO
	q := run.QEMU{Image: res.Output, Mem: 1536, Machine: "q35",
		Networks: []run.Network{{Kind: "user", Model: "e1000e"}},
		Disks:    []run.Disk{{Path: t.TempDir() + "/nvme.img", Size: "64M", Format: "raw", If: "nvme"}}}
	if err := q.Disks[0].Ensure(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, c := bootGuest(t, 8*time.Minute, q)
	expectMatch(ctx, t, c, "dhcpcd's lease on the e1000e link", `dhcpcd: eth0: leased 10\.0\.2\.15/24 from 10\.0\.2\.2 `)
	end, _ := mustExpect(ctx, t, c, 0, `BMCHECK-END`)
	got := reportLines(c, end, "BMCHECK ")
	t.Logf("hardware in the guest:\n%s", strings.Join(got, "\n"))
	for _, want := range []string{
		"BMCHECK netdriver eth0 e1000e",
		"BMCHECK disk nvme0n1 nvme",
		"BMCHECK module e1000e live",
		"BMCHECK module nvme live",
		"BMCHECK module ahci live",
		"BMCHECK firmware isci/isci_firmware.bin",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("got %q, want the line %q", got, want)
		}
	}
	if !slices.ContainsFunc(got, func(l string) bool { return strings.HasPrefix(l, "BMCHECK ahci 0000:") }) {
		t.Errorf("got %q, want a PCI device bound to the ahci driver (the CD-ROM's controller)", got)
	}
	wantNet(t, readNetCheck(ctx, t, c))
	if err := c.Wait(ctx); err != nil {
		t.Errorf("qemu did not exit cleanly after power-off: %v\nlast console lines:\n%s", err, c.Tail(40))
	}
	if i, _, err := c.Expect(ctx, 0, regexp.MustCompile(`svcd: devices ready after`)); err == nil {
		t.Logf("guest: %s", c.Lines(i, i+1)[0])
	}
}
