// Command confinecheck is a test-only service that probes Keel's default
// confinement from the inside and tries what a compromised service would.
// It prints one line per probe, "CONFINE ok NAME" when the system refused
// as it should and "CONFINE FAIL NAME: ..." when it did not, then
// "CONFINE-END MODE". The mode, its only argument, says which container
// it runs in (see qemu-test/testdata/confine-check.yml):
//
//   - default: no capabilities, a read-only root, no bind of /run: load a
//     kernel module, mount, reach svcd's socket, write the root, /proc/sys
//     and /sys, read firmware tables, use a syscall only seccomp forbids.
//   - sysadmin: CAP_SYS_ADMIN and a writable root: the masked paths are
//     still masked, /proc/sys and /sys still read-only.
//   - host-bind: no capabilities and the host's / bound read-only at /host:
//     the mounts below it (/host/run, /host/proc) are read-only too, svcd's
//     and containerd's sockets are hidden, and /sys is read-only.
package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// probe is one thing the container must not be able to do.
type probe struct {
	name string
	// try returns nil when the attempt was refused the expected way,
	// otherwise what happened instead.
	try func() error
}

func main() {
	mode := "default"
	if len(os.Args) > 1 {
		mode = os.Args[1]
	}
	probes, ok := modes[mode]
	if !ok {
		fmt.Printf("CONFINE FAIL mode: unknown mode %q\n", mode)
		probes = nil
	}
	for _, p := range probes {
		if err := p.try(); err != nil {
			fmt.Printf("CONFINE FAIL %s/%s: %v\n", mode, p.name, err)
		} else {
			fmt.Printf("CONFINE ok %s/%s\n", mode, p.name)
		}
	}
	fmt.Printf("CONFINE-END %s\n", mode)
}

// modes are the probes of each container.
var modes = map[string][]probe{
	"default": {
		{"module", func() error {
			f, err := os.Open("/proc/self/exe")
			if err != nil {
				return err
			}
			defer f.Close()
			return want(unix.FinitModule(int(f.Fd()), "", 0), unix.EPERM)
		}},
		{"mount", func() error { return want(unix.Mount("none", "/", "tmpfs", 0, ""), unix.EPERM) }},
		{"svcd-socket", func() error { return dial("/run/svcd/svcd.sock") }},
		{"readonly-root", func() error { return want(os.WriteFile("/probe", []byte("x"), 0o644), unix.EROFS) }},
		{"proc-sys", func() error { return rewrite("/proc/sys/kernel/domainname") }},
		{"sysfs", sysfsProbe},
		{"firmware-masked", func() error { return maskedDir("/sys/firmware") }},
		{"seccomp-keyctl", func() error {
			_, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 1, 0, 0)
			return want(err, unix.EPERM)
		}},
		{"status", statusProbe},
	},
	"sysadmin": {
		{"sysfs", sysfsProbe},
		{"proc-sys", func() error { return rewrite("/proc/sys/kernel/domainname") }},
		{"kcore-masked", func() error { return maskedFile("/proc/kcore") }},
		{"keys-masked", func() error { return maskedFile("/proc/keys") }},
		{"timer-list-masked", func() error { return maskedFile("/proc/timer_list") }},
		{"firmware-masked", func() error { return maskedDir("/sys/firmware") }},
	},
	"host-bind": {
		{"sysfs", sysfsProbe},
		{"top", func() error { return want(os.WriteFile("/host/confinecheck-probe", nil, 0o644), unix.EROFS) }},
		{"run-below", func() error { return want(os.WriteFile("/host/run/confinecheck-probe", nil, 0o644), unix.EROFS) }},
		{"proc-sys-below", func() error { return rewrite("/host/proc/sys/kernel/domainname") }},
		// Read-only does not stop connect(2): the sockets must be hidden.
		{"svcd-socket-below", func() error { return dial("/host/run/svcd/svcd.sock") }},
		{"containerd-socket-below", func() error { return dial("/host/run/containerd/containerd.sock") }},
		{"status", statusProbe},
	},
}

// dial connects to a unix socket, which must not be there.
func dial(sock string) error {
	c, err := net.Dial("unix", sock)
	if err == nil {
		c.Close()
	}
	return want(err, unix.ENOENT)
}

// rewrite writes a file's own content back: refused with EROFS as it
// should be, and harmless where it is not.
func rewrite(file string) error {
	old, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	return want(os.WriteFile(file, old, 0o644), unix.EROFS)
}

// sysfsProbe checks /sys is mounted read-only and that a root-owned sysfs
// file (no capability needed, only uid 0) refuses a write.
func sysfsProbe() error {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys", &st); err != nil {
		return err
	}
	if st.Flags&unix.ST_RDONLY == 0 {
		return errors.New("/sys is mounted read-write, want read-only")
	}
	const thp = "/sys/kernel/mm/transparent_hugepage/enabled"
	raw, err := os.ReadFile(thp)
	if errors.Is(err, os.ErrNotExist) {
		return nil // a kernel without THP: the mount flag says enough
	} else if err != nil {
		return err
	}
	// Write the selected value, so that a write that goes through
	// changes nothing.
	_, sel, _ := strings.Cut(string(raw), "[")
	sel, _, _ = strings.Cut(sel, "]")
	return want(os.WriteFile(thp, []byte(sel), 0o644), unix.EROFS)
}

// maskedFile checks that a path is hidden as runc hides a file: /dev/null
// bound over it.
func maskedFile(p string) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil // not in this kernel
		}
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		return fmt.Errorf("%s is not masked (mode %#o, device %d:%d), want /dev/null over it", p, st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	return nil
}

// maskedDir checks that a directory is hidden (an empty read-only tmpfs
// over it) or absent.
func maskedDir(p string) error {
	entries, err := os.ReadDir(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s lists %d entries, want none (masked)", p, len(entries))
	}
	return nil
}

// statusProbe reads the kernel's view of the process: seccomp filtering,
// no-new-privileges and an empty effective capability set.
func statusProbe() error {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	return checkStatus(string(raw))
}

// checkStatus checks /proc/PID/status content.
func checkStatus(status string) error {
	want := map[string]string{"Seccomp": "2", "NoNewPrivs": "1", "CapEff": "0000000000000000"}
	var bad []string
	for _, line := range strings.Split(status, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if w, checked := want[k]; checked {
			if got := strings.TrimSpace(v); got != w {
				bad = append(bad, fmt.Sprintf("%s is %s, want %s", k, got, w))
			}
			delete(want, k)
		}
	}
	for k := range want {
		bad = append(bad, k+" missing")
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// want turns "refused with errno" into nil and anything else into an error.
func want(err error, errno unix.Errno) error {
	if errors.Is(err, errno) {
		return nil
	}
	if err == nil {
		return fmt.Errorf("allowed, want %v", errno)
	}
	return fmt.Errorf("got %v, want %v", err, errno)
}
