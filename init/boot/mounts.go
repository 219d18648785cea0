package boot

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// mountPoint is one filesystem init mounts.
type mountPoint struct {
	target, fstype, source string
	flags                  uintptr
	data                   string
	// onlyIfEmpty leaves the image's own directory alone when it has
	// content (a baked-in /var must stay visible).
	onlyIfEmpty bool
}

const (
	nosuidNodevNoexec = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	nosuidNodev       = unix.MS_NOSUID | unix.MS_NODEV
)

// earlyMounts come first: logging, mountinfo and the root move need them.
// devtmpfs is mounted by hand because the kernel has DEVTMPFS_MOUNT off.
var earlyMounts = []mountPoint{
	{target: "/proc", fstype: "proc", source: "proc", flags: nosuidNodevNoexec},
	{target: "/sys", fstype: "sysfs", source: "sysfs", flags: nosuidNodevNoexec},
	{target: "/dev", fstype: "devtmpfs", source: "devtmpfs", flags: unix.MS_NOSUID, data: "mode=0755"},
}

// lateMounts are mounted from the final root.
var lateMounts = []mountPoint{
	{target: "/dev/pts", fstype: "devpts", source: "devpts", flags: unix.MS_NOSUID | unix.MS_NOEXEC, data: "newinstance,ptmxmode=0666,mode=0620,gid=5"},
	{target: "/dev/shm", fstype: "tmpfs", source: "shm", flags: nosuidNodev, data: "mode=1777"},
	{target: "/dev/mqueue", fstype: "mqueue", source: "mqueue", flags: nosuidNodevNoexec},
	// Sizes as LinuxKit's: a runaway writer to /run or /tmp cannot eat
	// the memory, /var (containerd's content and snapshots) gets half.
	{target: "/run", fstype: "tmpfs", source: "tmpfs", flags: nosuidNodev, data: "size=10%,mode=0755"},
	{target: "/tmp", fstype: "tmpfs", source: "tmpfs", flags: nosuidNodev, data: "size=10%,mode=1777"},
	{target: "/var", fstype: "tmpfs", source: "tmpfs", flags: nosuidNodev, data: "size=50%,mode=0755", onlyIfEmpty: true},
}

// mountAll mounts each entry not already mounted, going on past failures.
func mountAll(list []mountPoint) error {
	mounts, _ := readMountinfo() // before /proc exists: nothing is mounted
	var errs []error
	for _, m := range list {
		if mountedAt(mounts, m.target) {
			klog.Debugf("%s already mounted", m.target)
			continue
		}
		if m.onlyIfEmpty && !dirEmpty(m.target) {
			klog.Debugf("%s has content in the image: not mounting %s over it", m.target, m.fstype)
			continue
		}
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("create mount point %s: %w", m.target, err))
			continue
		}
		if err := unix.Mount(m.source, m.target, m.fstype, m.flags, m.data); err != nil {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err))
		}
	}
	return errors.Join(errs...)
}

func dirEmpty(dir string) bool {
	entries, err := os.ReadDir(dir)
	return err != nil || len(entries) == 0
}

// earlyMountStep mounts /proc, /sys and /dev, then makes sure PID 1 has a
// console to write to and starts logging to /dev/kmsg. It sets st.cmd from
// /proc/cmdline, which was not there before.
func earlyMountStep(st *state) error {
	err := mountAll(earlyMounts)
	ensureConsole()
	klog.openKmsg()
	st.cmd = readCmdline()
	klog.setDebug(st.cmd.has(paramDebug))
	return err
}

// ensureConsole opens /dev/console on fds 0-2 when the kernel could not
// (an initrd without /dev/console gives PID 1 no stdio at all).
func ensureConsole() {
	if _, err := unix.FcntlInt(1, unix.F_GETFD, 0); err == nil {
		return
	}
	fd, err := unix.Open("/dev/console", unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return
	}
	for i := 0; i < 3; i++ {
		if fd != i {
			unix.Dup3(fd, i, 0)
		}
	}
	if fd > 2 {
		unix.Close(fd)
	}
}

// devLinks are the /dev symlinks programs expect and devtmpfs lacks.
var devLinks = [][2]string{
	{"/dev/fd", "/proc/self/fd"},
	{"/dev/stdin", "/proc/self/fd/0"},
	{"/dev/stdout", "/proc/self/fd/1"},
	{"/dev/stderr", "/proc/self/fd/2"},
	{"/dev/core", "/proc/kcore"},
	// Only used when devtmpfs has no ptmx node of its own.
	{"/dev/ptmx", "pts/ptmx"},
}

// lateMountStep mounts the rest, but for the optional kernel filesystems
// (kernelFSBootStep), and adds the /dev symlinks.
func lateMountStep() error {
	err := mountAll(lateMounts)
	errs := []error{populateVar()}
	for _, l := range devLinks {
		if _, lerr := os.Lstat(l[0]); lerr == nil {
			continue
		}
		if lerr := os.Symlink(l[1], l[0]); lerr != nil {
			errs = append(errs, lerr)
		}
	}
	return errors.Join(append([]error{err}, errs...)...)
}

const cgroupRoot = "/sys/fs/cgroup"

// keysCgroup is a child cgroup init makes and keeps, empty, so the first
// container's cgroup switches nothing on in the kernel (cgroupStep).
const keysCgroup = "keel-static-keys"

// cgroupStep mounts cgroup v2 and enables every available controller for
// the root's children, so runc and containerd can limit containers.
//
// It then makes keysCgroup. The first child cgroup with the memory and
// cpuset controllers turns on kernel static keys (memory accounting of
// kernel objects and sockets, cpusets), and the kernel rewrites its own
// code at every site that tests them, kmem_cache_alloc and the page
// allocator among them. QEMU's emulation (TCG, several guest CPUs) can
// keep running a stale translation of such a site while another CPU
// rewrites it: the guest CPUs then loop on the breakpoint the rewrite
// left there, for ever (seen once in about 150 boots, with runc making the
// first container's cgroup while svcd and containerd ran on the other
// CPU). Made here, the rewrite happens while init runs alone; kept, the
// keys stay on (removing the last such cgroup would rewrite the sites
// back).
func cgroupStep() error {
	mounts, _ := readMountinfo()
	if !mountedAt(mounts, cgroupRoot) {
		if err := os.MkdirAll(cgroupRoot, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", cgroupRoot, err)
		}
		err := unix.Mount("cgroup2", cgroupRoot, "cgroup2", nosuidNodevNoexec, "nsdelegate")
		if errors.Is(err, unix.EINVAL) { // kernels without nsdelegate
			err = unix.Mount("cgroup2", cgroupRoot, "cgroup2", nosuidNodevNoexec, "")
		}
		if err != nil {
			return fmt.Errorf("mount cgroup2 on %s: %w", cgroupRoot, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("read cgroup controllers: %w", err)
	}
	// One controller per write: one that cannot be enabled must not stop
	// the others.
	var errs []error
	var enabled []string
	for _, c := range strings.Fields(string(raw)) {
		if err := os.WriteFile(filepath.Join(cgroupRoot, "cgroup.subtree_control"), []byte("+"+c), 0); err != nil {
			errs = append(errs, fmt.Errorf("enable cgroup controller %s: %w", c, err))
			continue
		}
		enabled = append(enabled, c)
	}
	klog.Debugf("cgroup controllers: %s", strings.Join(enabled, " "))
	if err := os.Mkdir(filepath.Join(cgroupRoot, keysCgroup), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		errs = append(errs, fmt.Errorf("make cgroup %s: %w", keysCgroup, err))
	}
	return errors.Join(errs...)
}
