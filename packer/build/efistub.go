package build

import (
	"context"
	"runtime"

	"github.com/keel-os/keel/packer/pkgbuild"
	"github.com/keel-os/keel/packer/uki"
)

// stubPackage is Debian's package of systemd's EFI stubs.
const stubPackage = "systemd-boot-efi"

// efiStub returns the systemd EFI stub a UKI for opt.Arch is made from:
// the host's installed one for the host's architecture, else the one in
// the Debian package of opt.Arch, which cannot be installed beside the
// host's and is downloaded into the Debian package cache instead.
func efiStub(ctx context.Context, opt Options) (string, error) {
	stub, err := uki.StubPath(opt.Arch)
	if err != nil {
		return "", err
	}
	if opt.Arch == "" || opt.Arch == runtime.GOARCH {
		return stub, nil
	}
	debs := opt.DebCache
	if debs == "" {
		debs = opt.Cache.DebDir()
	}
	return pkgbuild.DebFile(ctx, debs, stubPackage, opt.Arch, stub)
}
