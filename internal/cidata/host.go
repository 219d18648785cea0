package cidata

import (
	"fmt"
	"io"

	"github.com/keel-os/keel/internal/atomicfile"
)

// CreateFile writes a cidata ISO holding userdata to path (`keel metadata
// create OUT.iso DATA`), replacing it in one rename.
func CreateFile(path string, userdata []byte, hostname string) error {
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		return WriteISO(w, Label, Seed(userdata, "", hostname))
	})
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// DriveArgs attaches a cidata ISO to QEMU as a read-only virtio disk, which
// the agent finds by its label (`keel run qemu --data-file X.iso`).
func DriveArgs(iso string) []string {
	return []string{"-drive", "file=" + iso + ",if=virtio,format=raw,readonly=on"}
}

// FwCfgArgs hands userdata (a file) to the guest through QEMU fw_cfg as
// opt/keel/userdata (`keel run qemu --data STRING` after writing STRING to
// a file, or --data-file with a non-ISO file).
func FwCfgArgs(userdataFile string) []string {
	return []string{"-fw_cfg", "name=opt/keel/userdata,file=" + userdataFile}
}
