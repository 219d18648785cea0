package disk

import (
	"fmt"

	"github.com/google/uuid"

	"github.com/diskfs/go-diskfs/partition/gpt"
)

// bootEFINames are the removable-media loader names the UEFI
// specification gives each architecture.
var bootEFINames = map[string]string{"amd64": "BOOTX64.EFI", "arm64": "BOOTAA64.EFI"}

// BootEFIPath returns where arch's UEFI firmware looks for a removable
// disk's loader ("" is amd64).
func BootEFIPath(arch string) (string, error) {
	if arch == "" {
		arch = "amd64"
	}
	name, ok := bootEFINames[arch]
	if !ok {
		return "", fmt.Errorf("no UEFI boot loader name for architecture %q: EFI disks are made for amd64 and arm64", arch)
	}
	return "/EFI/BOOT/" + name, nil
}

// gptTail is the room the backup GPT needs at the end of the disk.
const gptTail = 33 * sector

// RawEFI writes a GPT disk image to path whose one partition, an EFI
// system partition, holds the UKI at arch's BootEFIPath. size is the
// whole disk (0: just large enough); the partition fills it.
func RawEFI(path, uki, arch string, size int64) error {
	loader, err := BootEFIPath(arch)
	if err != nil {
		return err
	}
	files := map[string]File{loader: {Src: uki}}
	min, err := fatSize(files)
	if err != nil {
		return err
	}
	if size, err = diskSize(size, min+firstLBA*sector+mib, "the UKI"); err != nil {
		return err
	}
	id, err := contentID(files)
	if err != nil {
		return err
	}
	d, err := create(path, size)
	if err != nil {
		return err
	}
	defer d.Close()
	end := uint64(size-gptTail)/sector - 1
	table := &gpt.Table{
		LogicalSectorSize:  sector,
		PhysicalSectorSize: sector,
		// OVMF ignores a GPT disk without a protective MBR and falls
		// through to network boot.
		ProtectiveMBR: true,
		GUID:          guid(id, 0),
		Partitions: []*gpt.Partition{{
			Index: 1, Start: firstLBA, End: end, Type: gpt.EFISystemPartition, Name: "EFI", GUID: guid(id, 1),
		}},
	}
	if err := d.Partition(table); err != nil {
		return fmt.Errorf("writing the partition table of %s: %w", path, err)
	}
	return fillFAT(d, 1, "EFI", files)
}

// guid derives a version-4-shaped GUID from the content hash and n.
func guid(id [32]byte, n byte) string {
	var u uuid.UUID
	copy(u[:], id[:16])
	u[15] ^= n
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u.String()
}
