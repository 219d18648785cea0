#!/bin/sh
# A stand-in for qemu-system-x86_64 in tests of the KVM decision. It
# answers --version; under -accel kvm it behaves as $FAKE_KVM says: abort
# (as QEMU 7.2 does on a nested host whose KVM cannot set an MSR), hang (a
# guest spinning in the decompressor), silent-exit, or works; otherwise it
# prints a kernel's last words and exits 0. Each run appends its
# arguments to $FAKE_QEMU_LOG when that is set.
if [ "$1" = --version ]; then echo "QEMU emulator version 7.2.0 (stand-in)"; exit 0; fi
[ -n "$FAKE_QEMU_LOG" ] && echo "$*" >> "$FAKE_QEMU_LOG"
case " $* " in
*" -accel kvm "*)
	case "$FAKE_KVM" in
	abort)
		echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2
		echo "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion failed." >&2
		kill -ABRT $$ ;;
	hang) echo "Booting from ROM.."; exec sleep 600 ;;
	silent-exit) exit 0 ;;
	esac ;;
esac
echo "[    0.000000] Linux version 6.1.0 (stand-in)"
echo "[    0.900000] Kernel panic - not syncing: VFS: Unable to mount root fs"
exit 0
