package qemutest

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// TestLinuxKitTools boots examples/minimal.yml with
// testdata/pkgs-tools-check.yml: one system carrying LinuxKit's auditd,
// bpftrace and open-vm-tools packages. auditd must log the kernel's record
// of a sethostname(2) its rule audits (as LinuxKit's, auditd -f writes the
// records to its output, the service's log); bpftrace must
// compile a one-liner, attach its kprobe and print from it; open-vm-tools
// must start, find no VMware hypervisor (QEMU is none, so that is all it
// can show) and exit 0, which its restart policy leaves alone. tss: tcsd
// must open the TPM 1.2 that swtpm emulates (a TPM TIS device, /dev/tpm0)
// and tpm_version must read the chip's version through it. bpftrace's
// LLVM and clang make the image large, so the guest gets more memory than
// the default.
func TestLinuxKitTools(t *testing.T) {
	require(t)
	prefix := buildImage(t, "examples/minimal.yml", "qemu-test/testdata/pkgs-tools-check.yml")
	tpm := &run.TPM{Dir: t.TempDir()}
	ctx, c := bootGuest(t, 8*time.Minute, run.QEMU{Prefix: prefix, Mem: 1536, TPM: tpm})
	expectSteps(ctx, t, c, []step{
		{"runaudit loaded the rules", regexp.MustCompile(`auditd: runaudit: loaded /etc/audit/audit.rules`)},
		{"auditd registered with the kernel", regexp.MustCompile(`auditd: Init complete, auditd \S+ listening for events`)},
		// The kernel's record of sethostname (170 on x86-64) by busybox,
		// under the rule's key.
		{"auditd logged the audited sethostname", regexp.MustCompile(`auditd: type=SYSCALL msg=audit\(\S+\): arch=c000003e syscall=170 success=yes .* exe="/bin/busybox" .*key="keel-audit"`)},
		{"bpftrace attached its probes", regexp.MustCompile(`bpftrace: KEEL-BPF attached`)},
		{"bpftrace's kprobe fired in busybox", regexp.MustCompile(`bpftrace: KEEL-BPF busybox pid \d+ in do_nanosleep`)},
		{"bpftrace exited 0", regexp.MustCompile(`svcd: service bpftrace exited 0`)},
		{"open-vm-tools saw no VMware", regexp.MustCompile(`open-vm-tools: keel-vmtoolsd: not a VMware virtual machine \(the firmware says "QEMU"\)`)},
		{"open-vm-tools exited 0", regexp.MustCompile(`svcd: service open-vm-tools exited 0`)},
		// swtpm's TPM 1.2 is libtpms, which reports IBM as its vendor.
		{"tpm_version read the TPM through tcsd", regexp.MustCompile(`tpm-version:\s+TPM 1\.2 Version Info:`)},
		{"the TPM named its vendor", regexp.MustCompile(`tpm-version:\s+TPM Vendor ID:\s+IBM`)},
		{"tpm_version exited 0", regexp.MustCompile(`svcd: service tpm-version exited 0`)},
		{"the check finished", regexp.MustCompile(`PKGCHECK-END`)},
	})
	for _, l := range c.Lines(0, -1) {
		if _, rest, ok := strings.Cut(l, "PKGCHECK "); ok {
			t.Logf("guest: %s", strings.TrimSpace(rest))
		}
	}
	if t.Failed() {
		t.Logf("console:\n%s", c.Tail(100))
	}
}
