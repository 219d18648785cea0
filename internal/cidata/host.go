package cidata

import (
	"fmt"
	"os"
	"path/filepath"
)

// CreateFile writes a cidata ISO holding userdata to path (`keel metadata
// create OUT.iso DATA`), replacing it in one rename.
func CreateFile(path string, userdata []byte, hostname string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := WriteISO(tmp, Label, Seed(userdata, "", hostname)); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
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
