package build

// moduleGroup is a part of the default module set, with the reason it is
// there.
type moduleGroup struct {
	why   string
	names []string // module names or globs; ones the kernel lacks are skipped
}

// defaultModules are the modules every image carries unless the spec says
// `kernel: modules: all`: the drivers of every platform Keel supports (QEMU
// on x86 and arm64, the clouds of packer/cloud) and what its containers and
// formats use. Each group's modules come with everything they depend on.
// A module a kernel builds in, or does not have, is simply not added, so
// the list suits other kernels too. It was grounded by booting the
// examples and tests under QEMU and listing what init loaded (see
// docs/system.md, "Kernel modules"): the QEMU rows are those modules.
//
// Changing this list changes every image: the QEMU tests of each format
// prove it.
var defaultModules = []moduleGroup{
	{"virtio: the devices of QEMU/KVM and of most clouds (GCP, OpenStack, DigitalOcean, ...): bus, disks, CD-ROM on virtio-scsi, network, console, entropy, memory balloon, input",
		[]string{"virtio_pci", "virtio_mmio", "virtio_blk", "virtio_scsi", "virtio_net", "virtio_console", "virtio_rng", "virtio_balloon", "virtio_input"}},
	{"QEMU's PC machine: IDE/ATA disks and the CD-ROM an ISO boots from, SCSI disks and CD-ROMs, fw_cfg (metadata from the host), pvpanic, the ACPI power button (clean poweroff) and input events, the PS/2 port",
		[]string{"ata_piix", "ata_generic", "sd_mod", "sr_mod", "qemu_fw_cfg", "pvpanic_pci", "pvpanic_mmio", "button", "evdev", "serio_raw"}},
	{"AWS: ENA network, NVMe disks (built into Debian's kernel), older instances' Xen devices and Intel VF network",
		[]string{"ena", "nvme", "xen_netfront", "xen_blkfront", "ixgbevf"}},
	{"Google Cloud: gVNIC network (disks and the rest are virtio or NVMe)",
		[]string{"gve"}},
	{"Azure and Hyper-V: VMBus, synthetic network, disks, keyboard, balloon, time sync and shutdown, framebuffer, sockets, MANA network",
		[]string{"hv_vmbus", "hv_netvsc", "hv_storvsc", "hv_utils", "hv_balloon", "hyperv_keyboard", "hid_hyperv", "hyperv_fb", "hv_sock", "mana"}},
	{"VMware: vmxnet3 network, PVSCSI disks, the balloon (matched by VMware's DMI), VMCI and its sockets, the host's clock",
		[]string{"vmxnet3", "vmw_pvscsi", "vmw_balloon", "vmw_vmci", "vmw_vsock_vmci_transport", "ptp_vmw"}},
	{"ACPI processor objects: the CPU frequency drivers they match (they find nothing to drive in a VM, but leaving them out would be reported at every boot)",
		[]string{"acpi_cpufreq", "pcc_cpufreq"}},
	{"KVM clouds: the host's clock for PTP/chrony",
		[]string{"ptp_kvm"}},
	{"vsock: host <-> guest sockets (virtio, loopback)",
		[]string{"vsock", "vmw_vsock_virtio_transport", "vsock_loopback"}},
	{"filesystems: overlay (containers, --rootfs squashfs), squashfs and loop (--rootfs squashfs, the losetup package), ISO 9660 and FAT (cidata metadata volumes, the ESP) with their code pages, binfmt_misc (the binfmt package, as LinuxKit's kernel builds it in); ext4 is built into Debian's kernel",
		[]string{"overlay", "squashfs", "loop", "isofs", "vfat", "nls_utf8", "nls_ascii", "nls_cp437", "nls_iso8859_1", "binfmt_misc", "ext4"}},
	{"UEFI: the variables filesystem, and the pstore backend the firmware's efivars device matches (a UEFI boot coldplugs it)",
		[]string{"efivarfs", "efi_pstore"}},
	{"container networking: veth pairs, bridges (CNI bridge, Docker-style), tun/tap, macvlan, ipvlan, vxlan overlays, dummy links",
		[]string{"veth", "bridge", "br_netfilter", "tun", "macvlan", "ipvlan", "vxlan", "dummy"}},
	{"packet filtering and NAT as CNI plugins, Docker and kube-proxy use it: nftables, iptables (legacy and nft), conntrack, masquerade, the common matches",
		[]string{"nf_tables", "nft_compat", "nft_chain_nat", "nft_masq", "nft_nat", "nft_ct", "nft_reject_inet", "nft_fib_inet",
			"nf_conntrack", "nf_nat", "nfnetlink", "x_tables", "ip_tables", "ip6_tables",
			"iptable_filter", "iptable_nat", "iptable_mangle", "ip6table_filter", "ip6table_nat", "ip6table_mangle",
			"ipt_REJECT", "ip6t_REJECT", "xt_MASQUERADE", "xt_conntrack", "xt_addrtype", "xt_comment", "xt_mark", "xt_multiport", "xt_nat", "xt_tcpudp"}},
}
