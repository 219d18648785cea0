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
)

// VolumeDir is the directory of volume name in the image.
func VolumeDir(name string) string { return VolumesDir + "/" + name }

// VolumeMerged is the folder containers bind for volume name: its content.
func VolumeMerged(name string) string { return VolumeDir(name) + "/merged" }
