package boot

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// paramHugePages is the kernel's own parameter for the transparent huge
// page mode; when the command line sets it, init leaves the mode alone.
const paramHugePages = "transparent_hugepage"

// hugePagesFile is where sysfs (mounted at /sys) keeps the mode.
const hugePagesFile = "kernel/mm/transparent_hugepage/enabled"

// hugePagesStep turns transparent huge pages from "always" to "madvise",
// before any program but init runs. With "always", every process whose
// heap reaches a 2 MiB-aligned range gets a whole huge page zeroed on its
// first touch, and a Keel boot starts about thirty short-lived Go programs
// (svcd, containerd, the shims, runc and its init stage for each
// container): under emulation that zeroing was about 50 huge pages, 100 MB
// written, per boot. Programs that want huge pages still get them with
// madvise(MADV_HUGEPAGE). Debian's kernel defaults to "always"; a kernel
// built with another default, or a command line that names a mode, is left
// as it is.
func hugePagesStep(cmd cmdline, sysfs string) error {
	if cmd.has(paramHugePages) {
		return nil
	}
	path := filepath.Join(sysfs, hugePagesFile)
	cur, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a kernel without transparent huge pages
	}
	if err != nil {
		return fmt.Errorf("reading the huge page mode: %w", err)
	}
	// The file lists the modes with the current one in brackets.
	if !bytes.Contains(cur, []byte("[always]")) {
		return nil
	}
	if err := os.WriteFile(path, []byte("madvise"), 0); err != nil {
		return fmt.Errorf("setting transparent huge pages to madvise: %w", err)
	}
	return nil
}
