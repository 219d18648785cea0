// Package run boots built images: `keel run qemu`.
package run

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// QEMU describes one boot of a build: a kernel+initrd build (Prefix) or an
// image file (Image, or Prefix naming a file): ISO, raw, qcow2, vhd, vmdk
// or a UKI.
type QEMU struct {
	// Prefix is the build's path prefix: Prefix-kernel, Prefix-initrd.img,
	// Prefix-cmdline, and the root image of kernel+squashfs, kernel+erofs
	// or kernel+iso (RootSuffixes) when there is one. When no
	// Prefix-kernel exists and Prefix is a file, it is booted as an image.
	Prefix string
	// Image is an image file to boot instead of a kernel+initrd build.
	Image string
	Mem   int // MiB
	// CPUs is the guest's CPU count; 0 is DefaultCPUs.
	CPUs int
	// ExtraCmdline is appended to the image's own command line
	// (kernel+initrd builds only: images carry theirs inside).
	ExtraCmdline string
	// KVM is "auto" (use KVM where a probe saw it run a guest on this
	// host), "on" (fail when it cannot) or "off"; empty means $KEEL_KVM,
	// else auto (see Decider).
	KVM string
	// Decider makes the KVM decision; nil is the process's shared one.
	Decider *Decider
	// UEFI boots with OVMF instead of SeaBIOS. Images that only boot under
	// UEFI (a UKI, a GPT disk, an EFI-only ISO, a file named *-efi.*)
	// turn it on by themselves.
	UEFI bool
	// SecureBoot boots with OVMF enforcing Secure Boot (implies UEFI).
	// SecureBootVars is the variable store with the enrolled keys to start
	// from; empty means Debian's test keys (OVMFTestKeysVars).
	SecureBoot     bool
	SecureBootVars string
	// StateDir keeps the UEFI variables, the ESP made for a UKI, and for
	// Detach the console log and QEMU's pid. Empty: a temporary directory
	// that Run removes when QEMU exits (Args leaves it for the caller).
	StateDir string
	// Detach runs QEMU in the background: Run returns once it has
	// started, with its pid in StateDir/qemu.pid and the console in
	// StateDir/console.log.
	Detach bool
	// Publish forwards host ports to the guest (user-mode network).
	Publish []Publish
	// Networks are the guest's NICs in order; empty means one user-mode
	// network.
	Networks []Network
	// SegmentDir holds the sockets of the segments' switches
	// (`--networking segment,NAME`); empty is segment.Dir().
	SegmentDir string
	// StartSwitch starts the switch of a segment that none serves yet,
	// on segment.Socket(dir, name) (keel starts `keel run switch` in the
	// background). Nil serves it from this process for as long as the
	// process runs.
	StartSwitch func(dir, name string) error
	// Machine is QEMU's board for an amd64 guest: "" or "pc" (i440FX, the
	// default), "q35" (PCIe, an AHCI controller: a physical machine's
	// layout), or a versioned name of either.
	Machine string
	// Devices are passed to QEMU as -device arguments, after Keel's own.
	Devices []string
	// GuestAgent, when set, is the host's unix socket of the QEMU guest
	// agent's channel: a virtio-serial port named org.qemu.guest_agent.0,
	// which the guest sees as /dev/vport0p1 (the qemu-ga package's
	// default). QEMU listens on the socket; a client talks QMP-style JSON.
	GuestAgent string
	// TPM, when set, is a software TPM (swtpm) that Run starts and
	// attaches as a TPM TIS device (/dev/tpm0 in the guest).
	TPM *TPM
	// Firmware replaces the UEFI firmware code (OVMF_CODE) and turns UEFI
	// on, as LinuxKit's -fw.
	Firmware string
	// Disks are attached as virtio block devices, in order (/dev/vda, ...).
	// Run creates missing ones; Args expects them to exist.
	Disks []Disk
	// Extra arguments appended to QEMU's command line (metadata disks,
	// fw_cfg entries ...).
	Extra  []string
	Stdin  io.Reader
	Stdout io.Writer
	// Binary is QEMU; empty means the architecture's
	// qemu-system-x86_64 or qemu-system-aarch64.
	Binary string
	// Arch is the guest architecture (amd64 or arm64). Empty: that of a
	// kernel+initrd build's kernel, else amd64. arm64 runs on QEMU's virt
	// board, emulated (TCG) on other hosts.
	Arch string

	tempState bool   // StateDir was made by Args
	accel     *Accel // decided once per QEMU
	nonce     string // segment NICs' MAC seed without a StateDir
}

// defaultDecider is shared by every boot of the process, so a verdict is
// read or probed once.
var defaultDecider = &Decider{}

// Accelerator decides, once per q, whether q boots under KVM or TCG
// (Decider.Decide). A kernel+initrd build's kernel is what a probe boots
// when no verdict is cached yet.
func (q *QEMU) Accelerator() (Accel, error) {
	if q.accel != nil {
		return *q.accel, nil
	}
	// Without a build, the question is about the host: the guest is of
	// q.Arch, and a probe boots the host's own kernel.
	art, arch := artifact{}, q.Arch
	if arch == "" {
		arch = hostArch()
	}
	if q.Prefix != "" || q.Image != "" {
		var err error
		if art, err = q.find(); err != nil {
			return Accel{}, err
		}
		if arch, err = q.resolveArch(art); err != nil {
			return Accel{}, err
		}
	}
	m, err := machineFor(arch)
	if err != nil {
		return Accel{}, err
	}
	mode, err := KVMMode(q.KVM)
	if err != nil {
		return Accel{}, err
	}
	bin := q.Binary
	if bin == "" {
		bin = m.binary
	}
	r := Request{Mode: mode, Binary: bin, Arch: arch, MachineArgs: m.args, Console: m.console}
	if art.path != "" && art.kind == kindKernel {
		// Only a real kernel of this host's architecture may decide: a
		// probe of anything else would record a verdict about the file,
		// not about KVM.
		if k, err := kernelArch(art.path + "-kernel"); err == nil && k == hostArch() {
			r.Kernel = art.path + "-kernel"
		}
	}
	d := q.Decider
	if d == nil {
		d = defaultDecider
	}
	a, err := d.Decide(context.Background(), r)
	if err != nil {
		return Accel{}, err
	}
	q.accel = &a
	return a, nil
}

// Args returns QEMU's command line for q. For UEFI boots it prepares
// StateDir (the variable store, the ESP for a UKI); for segment NICs it
// makes sure their switches run (StartSwitch), since QEMU connects to them
// as it starts.
func (q *QEMU) Args() ([]string, error) {
	art, err := q.find()
	if err != nil {
		return nil, err
	}
	arch, err := q.resolveArch(art)
	if err != nil {
		return nil, err
	}
	m, err := machineFor(arch)
	if err != nil {
		return nil, err
	}
	mem, cpus := q.Mem, q.CPUs
	if mem == 0 {
		mem = 1024
	}
	if cpus == 0 {
		cpus = DefaultCPUs(mem)
	}
	args := append(slices.Clone(m.args), "-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus), "-no-reboot")
	if q.Machine != "" {
		if err := checkMachine(q.Machine, arch, q.SecureBoot); err != nil {
			return nil, err
		}
		args = append(args, "-machine", q.Machine)
	}
	if q.ExtraCmdline != "" && art.kind != kindKernel {
		return nil, fmt.Errorf("--cmdline works with kernel+initrd builds only: %s carries its command line inside; rebuild it with the spec's kernel cmdline changed", art.path)
	}
	uefi := q.UEFI || q.SecureBoot || art.efi || q.Firmware != ""
	if uefi || q.Detach || art.kind == kindUKI {
		if err := q.ensureState(); err != nil {
			return nil, err
		}
	}
	// A kernel+initrd boot needs none of the board's default devices:
	// without -nodefaults the PC board adds an empty IDE CD-ROM, whose
	// drivers (sr_mod, cdrom) and ATAPI probe held up every boot's module
	// coldplug, which onboot containers wait for (0.94 s instead of 1.22 s
	// in one boot each), and a VGA card nothing draws on. Firmware and
	// bootloaders (ISO, disk, UEFI) keep the board as it is.
	bare := art.kind == kindKernel && !uefi
	if bare {
		args = append(args, "-nodefaults")
	}
	if q.Detach {
		args = append(args, "-display", "none", "-serial", "file:"+filepath.Join(q.StateDir, "console.log"),
			"-daemonize", "-pidfile", filepath.Join(q.StateDir, "qemu.pid"))
	} else {
		args = append(args, "-nographic")
		if bare {
			// What -nographic sets up itself, but only as a default.
			args = append(args, "-serial", "mon:stdio")
		}
	}
	if uefi {
		fw, err := q.firmware(m)
		if err != nil {
			return nil, err
		}
		args = append(args, fw...)
	}
	// A guest panic is reported through pvpanic and makes QEMU fail, so
	// the exit status tells a clean power-off from a crash.
	args = append(args, "-device", "virtio-rng-pci")
	if m.panicDevice != nil {
		args = append(args, m.panicDevice...)
		args = append(args, "-action", "panic=exit-failure")
	}
	sockets, err := q.segmentSockets()
	if err != nil {
		return nil, err
	}
	nics, err := netArgs(q.Networks, q.Publish, q.Prefix+q.Image+q.StateDir, q.segmentSeed(), sockets)
	if err != nil {
		return nil, err
	}
	args = append(args, nics...)
	args = append(args, guestAgentArgs(q.GuestAgent)...)
	if q.TPM != nil {
		args = append(args, q.TPM.qemuArgs()...)
	}
	for _, d := range q.Devices {
		args = append(args, "-device", d)
	}
	for i, d := range q.Disks {
		args = append(args, d.args(i)...)
	}
	boot, err := q.bootArgs(art, arch, m)
	if err != nil {
		return nil, err
	}
	args = append(args, boot...)
	acc, err := q.Accelerator()
	if err != nil {
		return nil, err
	}
	args = append(args, acc.Args()...)
	return append(args, q.Extra...), nil
}

// bootArgs attaches what boots. A boot disk is a virtio disk (the BIOS
// reads it far faster than IDE under TCG) placed after the --disk ones, so
// they keep their names (/dev/vda, ...); snapshot=on keeps the built image
// unchanged.
func (q *QEMU) bootArgs(art artifact, arch string, m machine) ([]string, error) {
	bootDisk := func(file, format string) []string {
		return []string{"-drive", "if=none,id=bootdisk,file=" + file + ",format=" + format + ",snapshot=on",
			"-device", "virtio-blk-pci,drive=bootdisk,bootindex=0"}
	}
	switch art.kind {
	case kindISO:
		if m.scsiCDROM {
			return []string{"-drive", "if=none,id=cdrom,file=" + art.path + ",media=cdrom,readonly=on",
				"-device", "virtio-scsi-pci,id=scsi0", "-device", "scsi-cd,drive=cdrom,bootindex=0"}, nil
		}
		return []string{"-drive", "file=" + art.path + ",media=cdrom,if=ide,readonly=on", "-boot", "d"}, nil
	case kindDisk:
		return bootDisk(art.path, art.format), nil
	case kindUKI:
		esp, err := q.espFor(art.path, arch)
		if err != nil {
			return nil, err
		}
		return bootDisk(esp, "raw"), nil
	}
	kernel, initrd := art.path+"-kernel", art.path+"-initrd.img"
	if _, err := os.Stat(initrd); err != nil {
		return nil, fmt.Errorf("no kernel+initrd build at %s (want %s and %s; run `keel build` first): %w", art.path, kernel, initrd, err)
	}
	cmdline := ""
	if b, err := os.ReadFile(art.path + "-cmdline"); err == nil {
		cmdline = strings.TrimSpace(string(b))
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	if q.ExtraCmdline != "" {
		cmdline = strings.TrimSpace(cmdline + " " + q.ExtraCmdline)
	}
	if q.idleIDE(arch) {
		cmdline = strings.TrimSpace(cmdline + " " + idleIDECmdline)
	}
	// The kernel's last console= is /dev/console: the serial port of this
	// board goes last unless the command line already names it.
	if m.console != "" && !strings.Contains(cmdline, "console="+m.console) {
		cmdline = strings.TrimSpace(cmdline + " console=" + m.console)
	}
	var rootDisk []string
	if art.root != "" {
		// The root image is the virtio disk after the --disk ones
		// (attached the same way: QEMU creates if=virtio drives after
		// every -device, in command line order); init mounts the
		// device the last root= names.
		rootDisk = []string{"-drive", "file=" + art.root + ",if=virtio,format=raw,readonly=on"}
		cmdline += " root=" + virtioDisk(q.virtioDisks())
	}
	return append([]string{"-kernel", kernel, "-initrd", initrd, "-append", cmdline}, rootDisk...), nil
}

// idleIDECmdline keeps init's coldplug from loading the drivers of the PC
// board's IDE controller. The controller is part of the board's south
// bridge (QEMU cannot leave it out), and a kernel+initrd boot attaches
// nothing to it: loading libata and ata_piix and probing the empty channels
// held up the coldplug that onboot containers wait for by about 0.2 s
// under TCG, and the boot by 0.3 s (3 interleaved boots each). The image
// keeps the drivers: `modprobe ata_piix` still loads them, and an ISO or a
// guest booted elsewhere is not affected.
const idleIDECmdline = "modprobe.blacklist=ata_piix,ata_generic"

// idleIDE says whether a kernel+initrd boot leaves the board's IDE
// controller without devices: the PC board (the default), and no -device
// or extra argument that puts a drive on IDE.
func (q *QEMU) idleIDE(arch string) bool {
	if arch != "" && arch != "amd64" || q.Machine != "" && q.Machine != "pc" {
		return false
	}
	for _, a := range append(slices.Clone(q.Devices), q.Extra...) {
		if strings.Contains(a, "ide-") || strings.Contains(a, "if=ide") || a == "-cdrom" || a == "-hda" || a == "-hdb" || a == "-hdc" || a == "-hdd" {
			return false
		}
	}
	return true
}

// virtioDisks counts the --disk disks attached through virtio.
func (q *QEMU) virtioDisks() int {
	n := 0
	for _, d := range q.Disks {
		if d.If == "" {
			n++
		}
	}
	return n
}

// virtioDisk is the Linux name of the i-th virtio disk (0: /dev/vda,
// 26: /dev/vdaa).
func virtioDisk(i int) string {
	name := ""
	for i++; i > 0; i = (i - 1) / 26 {
		name = string(rune('a'+(i-1)%26)) + name
	}
	return "/dev/vd" + name
}

// Program is the QEMU binary that boots q: Binary, else the one emulating
// the guest's architecture.
func (q *QEMU) Program() (string, error) {
	if q.Binary != "" {
		return q.Binary, nil
	}
	art, err := q.find()
	if err != nil {
		return "", err
	}
	arch, err := q.resolveArch(art)
	if err != nil {
		return "", err
	}
	m, err := machineFor(arch)
	if err != nil {
		return "", err
	}
	return m.binary, nil
}

// Run boots the image with the console on Stdin/Stdout and returns when
// QEMU exits, or once it has started with Detach. The guest powering
// itself off is a nil error; a guest panic or QEMU failing is an error.
func (q *QEMU) Run(ctx context.Context) error {
	for _, d := range q.Disks {
		if err := d.Ensure(ctx); err != nil {
			return err
		}
	}
	args, err := q.Args()
	if q.tempState && !q.Detach {
		defer os.RemoveAll(q.StateDir)
	}
	if err != nil {
		return err
	}
	bin, err := q.Program()
	if err != nil {
		return err
	}
	if q.TPM != nil {
		if err := q.TPM.Start(ctx); err != nil {
			return err
		}
		if !q.Detach {
			defer q.TPM.Stop()
		}
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = q.Stdin, q.Stdout, q.Stdout
	if q.Detach {
		cmd.Stdin = nil
	} else {
		// A QEMU in the foreground ends with keel, even when keel is
		// killed outright (SIGKILL runs no cleanup): otherwise it goes on
		// running a machine nobody sees, holding its CPU and memory. The
		// signal follows the thread that started QEMU, so keep it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("qemu: %w (the guest did not power off cleanly)", err)
	}
	return nil
}

// maxDefaultCPUs caps the default guest CPU count. Under TCG each guest
// CPU is a host thread (multi-threaded TCG), so a second CPU lets the
// guest start containerd, its shims and the services side by side, and
// lets init read the system's binaries ahead while the modules load: the
// minimal example reached every service in 4.7 s instead of 6.7 s on a
// two-core host (7 interleaved boots each, bare-kernel floor 1.94 s). Past 2, a small system has
// nothing left to run in parallel, and each CPU costs kernel bring-up.
//
// Two were the default once before and went back to one after a guest of
// two CPUs hung in a make test run (both CPUs in the kernel for minutes,
// two such guests side by side on two cores). That guest's CPU model
// still had ERMS, with which the kernel clears and copies pages with
// rep stosb/movsb, one byte per emulated step; tcgCPU turns it off. Since,
// 50 boots of two such guests side by side on two cores (load 6-9) all
// reached every service and powered off.
const maxDefaultCPUs = 2

// smallGuestMiB is the memory below which a guest gets one CPU by
// default. Each guest CPU costs the kernel memory of its own (per-CPU
// squashfs decompressors for every mounted image part, per-CPU caches,
// stacks): the minimal example had 24.5 MB available at --mem 144 with
// two CPUs against 32.0 MB with one, and reached every service at
// --mem 136 only with one.
const smallGuestMiB = 256

// DefaultCPUs is the guest CPU count when none is asked for, for a guest
// of memMiB: this host's CPUs, at most maxDefaultCPUs; one for a guest
// under smallGuestMiB.
func DefaultCPUs(memMiB int) int {
	if memMiB < smallGuestMiB {
		return 1
	}
	return min(runtime.NumCPU(), maxDefaultCPUs)
}

// guestAgentArgs attach the guest agent's channel: its own virtio-serial
// controller (so the guest names the port /dev/vport0p1 whatever else is
// attached) with one port, backed by a listening unix socket. A comma in
// the path would end QEMU's option value: it is doubled, as QEMU wants.
func guestAgentArgs(socket string) []string {
	if socket == "" {
		return nil
	}
	path := strings.ReplaceAll(socket, ",", ",,")
	return []string{
		"-device", "virtio-serial-pci,id=qga-serial",
		"-chardev", "socket,id=qga0,path=" + path + ",server=on,wait=off",
		"-device", "virtserialport,bus=qga-serial.0,chardev=qga0,name=org.qemu.guest_agent.0",
	}
}

// checkMachine refuses a board keel cannot promise to boot: only amd64's
// pc and q35 (and their versioned names), and q35 under Secure Boot, which
// needs its SMM emulation.
func checkMachine(name, arch string, secureBoot bool) error {
	if arch != "amd64" && arch != "" {
		return fmt.Errorf("--machine %q: only amd64 guests choose their board (arm64 runs on virt)", name)
	}
	base := name
	if i := strings.Index(name, "-"); i >= 0 {
		base = name[:i]
	}
	if base != "pc" && base != "q35" || strings.ContainsAny(name, ", =") {
		return fmt.Errorf("--machine %q: want pc or q35 (or a versioned name such as pc-q35-7.2)", name)
	}
	if secureBoot && base != "q35" && !strings.HasPrefix(name, "pc-q35") {
		return fmt.Errorf("--machine %q: --secure-boot needs q35", name)
	}
	return nil
}
