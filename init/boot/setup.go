package boot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// kernelFS is a pseudo filesystem mounted only when the kernel offers it.
type kernelFS struct {
	fstype, target string
	flags          uintptr
}

// kernelFilesystems are the optional pseudo filesystems LinuxKit's init
// mounts; tools (bpftool, perf, efibootmgr, qemu-user binfmt) expect them at
// these places.
var kernelFilesystems = []kernelFS{
	{"securityfs", "/sys/kernel/security", nosuidNodevNoexec},
	{"debugfs", "/sys/kernel/debug", nosuidNodevNoexec},
	{"configfs", "/sys/kernel/config", nosuidNodevNoexec},
	{"fusectl", "/sys/fs/fuse/connections", nosuidNodevNoexec},
	{"pstore", "/sys/fs/pstore", nosuidNodevNoexec},
	{"bpf", "/sys/fs/bpf", unix.MS_NODEV},
	{"efivarfs", "/sys/firmware/efi/efivars", nosuidNodevNoexec},
	{"binfmt_misc", "/proc/sys/fs/binfmt_misc", nosuidNodevNoexec},
}

// parseFilesystems reads /proc/filesystems: "[nodev]\tNAME" per line.
func parseFilesystems(s string) []string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			out = append(out, f[len(f)-1])
		}
	}
	return out
}

// mountKernelFilesystems mounts each of kernelFilesystems the kernel knows
// and has a mount point for. Their directories live in sysfs and procfs,
// which only create them when the feature is there (efivars only under
// EFI), so a missing directory means "not here", not an error.
func mountKernelFilesystems(procFilesystems string) error {
	raw, err := os.ReadFile(procFilesystems)
	if err != nil {
		return fmt.Errorf("list kernel filesystems: %w", err)
	}
	have := parseFilesystems(string(raw))
	mounts, _ := readMountinfo()
	var errs []error
	for _, k := range kernelFilesystems {
		if !slices.Contains(have, k.fstype) || mountedAt(mounts, k.target) {
			continue
		}
		if _, err := os.Stat(k.target); err != nil {
			klog.Debugf("%s: no %s mount point", k.fstype, k.target)
			continue
		}
		if err := unix.Mount(k.fstype, k.target, k.fstype, k.flags, ""); err != nil {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", k.fstype, k.target, err))
		}
	}
	return errors.Join(errs...)
}

// varDirs are the standard directories of /var, made when /var is a fresh
// tmpfs so programs that expect them (and /var/run) find them.
var varDirs = []struct {
	path string
	mode os.FileMode
}{
	{"/var/cache", 0o755}, {"/var/empty", 0o555}, {"/var/lib", 0o755}, {"/var/local", 0o755},
	{"/var/lock", 0o755}, {"/var/log", 0o755}, {"/var/opt", 0o755}, {"/var/spool", 0o755},
	{"/var/tmp", 0o1777},
}

// populateVar fills an empty /var; a /var baked into the image is left as
// it is.
func populateVar() error {
	entries, err := os.ReadDir("/var")
	if err != nil || len(entries) > 0 {
		return nil
	}
	var errs []error
	for _, d := range varDirs {
		if err := os.Mkdir(d.path, d.mode); err != nil && !errors.Is(err, os.ErrExist) {
			errs = append(errs, err)
			continue
		}
		os.Chmod(d.path, d.mode) // the umask took the sticky and write bits
	}
	if err := os.Symlink("/run", "/var/run"); err != nil && !errors.Is(err, os.ErrExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// rlimitStep raises the limits PID 1 passes on to everything, as LinuxKit
// does: containerd, runc and busy services open many files and processes,
// and the kernel's defaults (1024 files) are for login sessions.
func rlimitStep() error {
	var errs []error
	for _, l := range []struct {
		name     string
		resource int
		value    uint64
	}{
		{"RLIMIT_NOFILE", unix.RLIMIT_NOFILE, 1 << 20},
		{"RLIMIT_NPROC", unix.RLIMIT_NPROC, unix.RLIM_INFINITY},
	} {
		if err := unix.Setrlimit(l.resource, &unix.Rlimit{Cur: l.value, Max: l.value}); err != nil {
			errs = append(errs, fmt.Errorf("set %s to %d: %w", l.name, l.value, err))
		}
	}
	return errors.Join(errs...)
}

// resolvConfTarget is where /etc/resolv.conf points when the image has
// none: under /run, so a DHCP client can write it on a read-only root.
const resolvConfTarget = "/run/resolvconf/resolv.conf"

// resolvConfStep makes etc/resolv.conf a symlink to target (when the image
// has no resolv.conf) and creates the file a symlink points to, so
// containers that bind-mount it find a file. target's directory is made
// in every case: dhcpcd binds just that directory (not the whole of /run,
// which holds containerd's and svcd's sockets), and its bind needs a
// source even on a system whose image has a resolv.conf of its own.
func resolvConfStep(etc, target string) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(target), err)
	}
	link := filepath.Join(etc, "resolv.conf")
	if _, err := os.Lstat(link); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(etc, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", etc, err)
		}
		if err := os.Symlink(target, link); err != nil {
			return fmt.Errorf("link %s to %s: %w", link, target, err)
		}
	}
	target, err := os.Readlink(link)
	if err != nil {
		return nil // a regular file: the image's own
	}
	if !filepath.IsAbs(target) {
		target = filepath.Join(etc, target)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(target), err)
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", target, err)
	}
	return f.Close()
}

// clockStep sets the system clock from the RTC when the clock is behind it,
// which is the case when the kernel was built without RTC_HCTOSYS or its
// RTC driver is a module. The RTC is taken to keep UTC, as on every cloud.
func clockStep() error {
	fd, err := unix.Open("/dev/rtc0", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) {
		klog.Debugf("no RTC: keeping the kernel's clock")
		return nil
	}
	if err != nil {
		return fmt.Errorf("open /dev/rtc0: %w", err)
	}
	defer unix.Close(fd)
	rt, err := unix.IoctlGetRTCTime(fd)
	if err != nil {
		return fmt.Errorf("read the RTC: %w", err)
	}
	rtc := rtcToTime(rt)
	if !time.Now().Before(rtc) {
		return nil
	}
	tv := unix.NsecToTimeval(rtc.UnixNano())
	if err := unix.Settimeofday(&tv); err != nil {
		return fmt.Errorf("set the clock to the RTC's %s: %w", rtc.Format(time.RFC3339), err)
	}
	klog.Printf("clock set from the RTC: %s", rtc.Format(time.RFC3339))
	return nil
}

// rtcToTime converts struct rtc_time (years since 1900, months from 0).
func rtcToTime(rt *unix.RTCTime) time.Time {
	return time.Date(int(rt.Year)+1900, time.Month(rt.Mon+1), int(rt.Mday), int(rt.Hour), int(rt.Min), int(rt.Sec), 0, time.UTC)
}

// hostnameFromMAC names the machine after its first Ethernet interface
// under sysClassNet, as LinuxKit does: keel-525400123456. It returns "" when
// there is none.
func hostnameFromMAC(sysClassNet string) string {
	ifaces, _ := os.ReadDir(sysClassNet) // sorted: eth0 before eth1
	for _, i := range ifaces {
		dir := filepath.Join(sysClassNet, i.Name())
		typ, _ := os.ReadFile(filepath.Join(dir, "type"))
		if strings.TrimSpace(string(typ)) != "1" { // ARPHRD_ETHER; lo is 772
			continue
		}
		raw, _ := os.ReadFile(filepath.Join(dir, "address"))
		mac := strings.ReplaceAll(strings.TrimSpace(string(raw)), ":", "")
		if mac != "" && strings.Trim(mac, "0") != "" {
			return "keel-" + mac
		}
	}
	return ""
}
