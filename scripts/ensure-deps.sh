#!/usr/bin/env bash
# ensure-deps.sh — make sure the Debian packages Keel's build and tests need
# are present. As root it installs what is missing with apt-get; otherwise it
# prints the exact command to run and fails.
set -eu
need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_cmd qemu-system-x86_64 || need+=(qemu-system-x86)
[ -e /usr/include/seccomp.h ] || need+=(libseccomp-dev)
have_cmd gcc || need+=(gcc)
have_cmd dpkg-deb || need+=(dpkg)
[ -x /bin/busybox ] || need+=(busybox-static)   # host tests build container rootfs from it
# Image formats (docs/formats.md): BIOS loaders, the UKI stub, UEFI firmware, qemu-img.
[ -e /usr/lib/ISOLINUX/isolinux.bin ] || need+=(isolinux)
[ -e /usr/lib/syslinux/mbr/mbr.bin ] || need+=(syslinux-common)
have_cmd syslinux || need+=(syslinux)           # raw-bios: installs ldlinux.sys into the FAT partition
have_cmd mcopy || need+=(mtools)                # what the syslinux installer writes with
[ -e /usr/lib/systemd/boot/efi/linuxx64.efi.stub ] || need+=(systemd-boot-efi)
[ -e /usr/share/OVMF/OVMF_CODE.fd ] || need+=(ovmf)
have_cmd qemu-img || need+=(qemu-utils)
# iso-efi-initrd: GRUB's EFI modules and grub-mkimage (grub-common comes with it).
{ have_cmd grub-mkimage && [ -d /usr/lib/grub/x86_64-efi ]; } || need+=(grub-efi-amd64-bin)
# kernel+erofs: mkfs.erofs reads a folder only, which fakeroot fills with the image's owners.
have_cmd mkfs.erofs || need+=(erofs-utils)
have_cmd fakeroot || need+=(fakeroot)
# Secure Boot tests: sbverify checks our signatures independently; openssl
# decrypts Debian's test key for the OVMF store that enrolls it.
have_cmd sbverify || need+=(sbsigntool)
have_cmd openssl || need+=(openssl)
# keel push azure's tests run Azurite (npm's azurite, installed by the tests
# into ~/.cache/keel-test on first use).
have_cmd node || need+=(nodejs)
have_cmd npm || need+=(npm)
# keel run qemu --tpm (the tss package test): a software TPM.
have_cmd swtpm || need+=(swtpm)
have_cmd mksquashfs || need+=(squashfs-tools)       # keel build --rootfs squashfs (unsquashfs in its tests)
# Disk package tests compare with the real tools (mke2fs, mkswap, swaplabel).
# The SSH tests use OpenSSH's own client programs against the guest.
have_cmd sftp || need+=(openssh-client)
have_cmd mke2fs || need+=(e2fsprogs)
have_cmd swaplabel || need+=(util-linux)
# make test-kubernetes' CNI test wires network namespaces with ip.
have_cmd ip || need+=(iproute2)
# arm64 systems (keel build --arch arm64, make test-arm64): Debian's arm64
# packages in apt's lists, the cross compiler and libseccomp for runc, the
# emulator and its UEFI firmware.
if ! dpkg --print-foreign-architectures 2>/dev/null | grep -qx arm64; then
  if [ "$(id -u)" -eq 0 ]; then
    dpkg --add-architecture arm64
    DEBIAN_FRONTEND=noninteractive apt-get update -qq   # the arm64 lists
  else
    echo "ensure-deps: apt does not list arm64 packages: run: sudo dpkg --add-architecture arm64" >&2
  fi
fi
have_cmd qemu-system-aarch64 || need+=(qemu-system-arm)
have_cmd aarch64-linux-gnu-gcc || need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
[ -e /usr/lib/aarch64-linux-gnu/libseccomp.a ] || need+=(libseccomp-dev:arm64)
[ -e /usr/share/AAVMF/AAVMF_CODE.fd ] || need+=(qemu-efi-aarch64)
have_cmd apt-get || { echo "ensure-deps: apt-get not found: Keel's build needs a Debian-based machine (it takes the kernel and busybox from Debian's packages)" >&2; exit 1; }
have_cmd go || { echo "ensure-deps: Go is not installed: install Go 1.26 or newer from your distribution and try again" >&2; exit 1; }
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-deps: missing Debian packages: ${need[*]}" >&2
  echo "ensure-deps: run: sudo apt-get update && sudo apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "ensure-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
