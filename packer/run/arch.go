package run

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/keel-os/keel/packer/uki"
)

// machine is how QEMU emulates one guest architecture.
type machine struct {
	binary string
	// args choose the board; the rest of the command line (virtio
	// devices on PCI, -kernel/-initrd) is the same everywhere.
	args []string
	// console is the serial port's kernel name where it is not x86's
	// ttyS0, which specs name: it is added to a kernel+initrd boot's
	// command line when that lacks it, so the console reaches this
	// terminal.
	console string
	// panicDevice reports a guest panic to QEMU (pvpanic), where the
	// guest kernels have a driver for one.
	panicDevice []string
	// codeFW and varsFW are Debian's UEFI firmware and its variable
	// store template.
	codeFW, varsFW, fwPackage string
	// secureCodeFW enforces Secure Boot (empty: not offered).
	secureCodeFW string
	// scsiCDROM attaches an ISO as a virtio SCSI CD-ROM: the board has
	// no IDE controller.
	scsiCDROM bool
	// tcgCPU is the -cpu model under TCG (emulation).
	tcgCPU string
}

// tcgCPUAMD64 is QEMU's "max" model without ERMS and FSRM. With them the
// guest kernel copies and clears memory with `rep movsb`/`rep stosb`,
// and TCG emulates a repeated string instruction one element at a time,
// here one byte (without them the kernel moves 8 bytes at once): reading the
// 9.4 MB runc binary from its squashfs took 0.68-0.87 s of guest CPU
// with them and 0.29 s without, and the minimal example's boot about
// 1 s less (docs/formats.md). Every other feature stays, so programs
// built for x86-64-v3 (AVX2) still run in the guest.
const tcgCPUAMD64 = "max,-erms,-fsrm"

var machines = map[string]machine{
	"amd64": {
		binary:      "qemu-system-x86_64",
		panicDevice: []string{"-device", "pvpanic"},
		codeFW:      OVMFCode, varsFW: OVMFVars, fwPackage: "ovmf",
		secureCodeFW: OVMFSecureCode,
		tcgCPU:       tcgCPUAMD64,
	},
	// virt is QEMU's generic arm64 board: PL011 serial, PCIe, PSCI for
	// power-off; Debian's arm64 cloud kernel has no pvpanic driver.
	"arm64": {
		binary:  "qemu-system-aarch64",
		args:    []string{"-M", "virt"},
		console: "ttyAMA0",
		codeFW:  "/usr/share/AAVMF/AAVMF_CODE.fd", varsFW: "/usr/share/AAVMF/AAVMF_VARS.fd", fwPackage: "qemu-efi-aarch64",
		scsiCDROM: true,
		tcgCPU:    "max",
	},
}

// Arches lists the guest architectures Run can boot.
func Arches() []string { return []string{"amd64", "arm64"} }

// machineFor returns the machine of arch; "" is amd64.
func machineFor(arch string) (machine, error) {
	if arch == "" {
		arch = "amd64"
	}
	m, ok := machines[arch]
	if !ok {
		return machine{}, fmt.Errorf("architecture %q cannot be booted: use one of %s", arch, strings.Join(Arches(), ", "))
	}
	return m, nil
}

// kernelArch tells an arm64 Image from an x86 bzImage by their boot
// headers; it returns "" when it recognises neither (a compressed
// kernel, say), so the caller's choice stands.
func kernelArch(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading the kernel: %w", err)
	}
	defer f.Close()
	head := make([]byte, 0x210)
	n, err := io.ReadFull(f, head)
	if err != nil && err != io.ErrUnexpectedEOF {
		return "", fmt.Errorf("reading the kernel %s: %w", path, err)
	}
	head = head[:n]
	switch {
	// arm64 boot protocol: "ARM\x64" at offset 56.
	case len(head) >= 60 && bytes.Equal(head[56:60], []byte("ARM\x64")):
		return "arm64", nil
	// x86 boot protocol: "HdrS" at 0x202.
	case len(head) >= 0x206 && bytes.Equal(head[0x202:0x206], []byte("HdrS")):
		return "amd64", nil
	}
	return "", nil
}

// resolveArch settles the guest architecture: q.Arch, checked against
// what a kernel+initrd build's kernel or a UKI's PE header is, or that
// when q.Arch is empty. Disks and ISOs are not looked into: they boot as
// amd64 unless q.Arch says otherwise.
func (q *QEMU) resolveArch(art artifact) (string, error) {
	var found, what string
	noun := "image"
	switch art.kind {
	case kindKernel:
		what, noun = art.path+"-kernel", "kernel"
		k, err := kernelArch(what)
		if err != nil {
			return "", err
		}
		found = k
	case kindUKI:
		what = art.path
		u, err := uki.FileArch(what)
		if err != nil {
			return "", fmt.Errorf("reading the UKI: %w", err)
		}
		found = u
	}
	switch {
	case q.Arch == "" && found == "":
		return "amd64", nil
	case q.Arch == "":
		return found, nil
	case found != "" && found != q.Arch:
		return "", fmt.Errorf("%s is an %s %s, but --arch %s was asked for: drop --arch, or build for %s with keel build --arch %s", what, found, noun, q.Arch, q.Arch, q.Arch)
	}
	return q.Arch, nil
}

// hostArch is the architecture KVM can run.
func hostArch() string { return runtime.GOARCH }

// HostArch is the architecture of this host, the only one KVM runs.
func HostArch() string { return hostArch() }
