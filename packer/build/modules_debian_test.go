package build

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-os/keel/internal/kmod"
	"github.com/keel-os/keel/internal/testkernel"
)

// qemuLoaded are the modules init loaded in a QEMU boot of
// examples/minimal.yml with every module available (keel.debug's "modules
// loaded" line, Debian's 6.1 cloud kernel, QEMU's default PC machine with
// virtio-net and virtio-rng): the data the default set was grounded on.
var qemuLoaded = strings.Fields("button evdev pvpanic pvpanic_mmio qemu_fw_cfg virtio_ring virtio virtio_pci_modern_dev " +
	"virtio_pci_legacy_dev virtio_pci scsi_common scsi_mod libata ata_piix virtio_rng failover net_failover virtio_net " +
	"ata_generic serio_raw cdrom sr_mod")

// TestDefaultModulesDebian checks the default set against the real Debian
// cloud kernel: every name in it is a module or built in (a typo would be
// skipped silently otherwise), the set covers what a QEMU boot loads, and
// it is a small part of the whole.
func TestDefaultModulesDebian(t *testing.T) {
	root, v := testkernel.Unpacked(t)
	dir := filepath.Join(root, "lib/modules", v)
	if err := kmod.WriteIndex(dir); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	idx := &moduleIndex{dir: "lib/modules/" + v + "/", dep: read("modules.dep"), alias: read("modules.alias"), builtin: read("modules.builtin")}
	if err := idx.parse(); err != nil {
		t.Fatal(err)
	}
	for _, g := range defaultModules {
		for _, n := range g.names {
			n = kmod.Normalize(n)
			if _, ok := idx.paths[n]; !ok && !idx.builtinSet[n] {
				t.Errorf("default module %s (%.40s...) is neither a module nor built into %s", n, g.why, v)
			}
		}
	}
	keep, err := idx.choose(newModuleChoice(nil), "debian")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range qemuLoaded {
		if !keep[n] {
			t.Errorf("%s, loaded by a QEMU boot, is not in the default set", n)
		}
	}
	if len(keep) > len(idx.paths)/5 {
		t.Errorf("default set: %d of %d modules, want a small part", len(keep), len(idx.paths))
	}
	t.Logf("default set: %d of %d modules", len(keep), len(idx.paths))
}
