// Package layout names the paths the packer writes into an image and the
// in-VM programs read. Both sides import it so a path is spelled once.
package layout

// Paths inside a booted Keel system (and inside the initrd that builds it).
const (
	Init             = "/init"
	Svcd             = "/usr/bin/svcd"
	Svcctl           = "/usr/bin/svcctl"
	Containerd       = "/usr/bin/containerd"
	Runc             = "/usr/bin/runc"
	ContainerdConfig = "/etc/containerd/config.toml"

	// ContainersDir holds one directory per phase.
	ContainersDir = "/containers"
	OnbootDir     = "/containers/onboot"
	ServicesDir   = "/containers/services"
	OnshutdownDir = "/containers/onshutdown"
	// VolumesDir holds one directory per volume of the spec (LinuxKit's
	// place): VolumeDir(NAME)/merged is what containers bind.
	VolumesDir = "/containers/volumes"
	// VolumeReadOnly is an empty folder in VolumeDir(NAME) of a read-only
	// volume: init mounts a read-only overlay of merged/ and this folder
	// on merged/ at boot.
	VolumeReadOnly = "readonly"

	// ModulesDir holds lib/modules/<kernel version>/.
	ModulesDir = "/lib/modules"
	// ModulesLoad lists extra modules to load at boot, one name per line.
	ModulesLoad = "/etc/modules"

	// SvcdSocket is svcd's API socket (HTTP+JSON, mode 0600).
	SvcdSocket = "/run/svcd/svcd.sock"
	// SvcdConfig holds extra svcd flags, one per line (from a spec's files).
	SvcdConfig       = "/etc/svcd.conf"
	ContainerdSocket = "/run/containerd/containerd.sock"
	// BootLog records init's boot steps as JSON for `svcctl boot`.
	BootLog = "/run/keel/boot.json"
	// RootParts holds, in an initrd with a squashfs root (keel build's
	// default), one squashfs image per part of the system, named so that
	// they sort in stacking order (000.squashfs is the bottom): init
	// mounts each read-only and stacks them under one tmpfs overlay
	// instead of running from the unpacked initramfs.
	RootParts = "/keel-root"
	// RootImage is the single squashfs image of the whole root that
	// images built before RootParts carry; init still mounts it.
	RootImage = "/keel-root.squashfs"
	// RootDisk marks the initramfs of a root on a disk (keel build's
	// kernel+squashfs, kernel+iso and kernel+erofs formats): it holds only
	// /init and the drivers to reach the disk, and init mounts the
	// squashfs, ISO 9660 or erofs file system on the block device the kernel command line's last
	// root= names (RootDiskParam) read-only, under a tmpfs overlay.
	RootDisk = "/keel-root.disk"
	// RootDiskParam is the kernel command line parameter that names the
	// root's block device, as the kernel's own root= does.
	RootDiskParam = "root"
	// RootDiskDefault is the root= keel build writes into PREFIX-cmdline:
	// the first virtio disk, where `keel run qemu` attaches the image
	// when no other disk comes first.
	RootDiskDefault = "/dev/vda"
)

// VolumeDir is the directory of volume name in the image.
func VolumeDir(name string) string { return VolumesDir + "/" + name }

// VolumeMerged is the folder containers bind for volume name: its content.
func VolumeMerged(name string) string { return VolumeDir(name) + "/merged" }

// RootDiskModules are the modules the initramfs of a root on a disk
// carries and init loads before mounting it (each is a module in Debian's
// cloud kernel; NVMe is built in): virtio disks (/dev/vda, QEMU's and the
// clouds' usual disk), IDE and SCSI disks and CD-ROMs (/dev/sda, where
// LinuxKit's `run qemu` attaches a kernel+squashfs root; /dev/sr0), the
// three root file systems and the overlay. A kernel without one of them
// leaves it out.
var RootDiskModules = []string{"virtio_pci", "virtio_blk", "virtio_scsi", "ata_piix", "ata_generic", "sd_mod", "sr_mod", "squashfs", "isofs", "erofs", "overlay"}
