package boot

import (
	"os"
	"slices"
	"time"

	"github.com/keel-os/keel/internal/initctl"
	"golang.org/x/sys/unix"
)

// action is what to do once everything has stopped.
type action int

const (
	actionPoweroff action = iota
	actionReboot
	actionHalt
)

func (a action) String() string {
	switch a {
	case actionReboot:
		return "reboot"
	case actionHalt:
		return "halt"
	}
	return "power off"
}

// actionFor maps a signal to PID 1 to an action, per internal/initctl.
func actionFor(sig unix.Signal) (action, bool) {
	switch {
	case slices.Contains(initctl.PoweroffSignals, sig):
		return actionPoweroff, true
	case slices.Contains(initctl.RebootSignals, sig):
		return actionReboot, true
	case slices.Contains(initctl.HaltSignals, sig):
		return actionHalt, true
	}
	return 0, false
}

const (
	defaultShutdownTimeout = 60 * time.Second
	termGrace              = 2 * time.Second
	killGrace              = time.Second
)

// shutdown stops svcd, then every other process, syncs, unmounts and powers
// off or reboots. It never returns: if the kernel refuses, init sleeps.
func shutdown(a action, sup *supervisor, r *reaper, timeout time.Duration) {
	defer func() {
		if p := recover(); p != nil {
			klog.Printf("shutdown: panic: %v; going straight to %s", p, a)
		}
		finalReboot(a)
	}()
	// The orphan count shows the reaper at work (qemu-test reads it).
	klog.Printf("shutdown (%s): %d orphans reaped since boot; stopping svcd (timeout %s)", a, r.orphans.Load(), timeout)
	start := time.Now()
	if sup.stop(initctl.ShutdownSignal, timeout) {
		klog.Printf("shutdown: svcd stopped in %s", time.Since(start).Round(time.Millisecond))
	} else {
		klog.Printf("shutdown: svcd still running after %s; killing everything", timeout)
	}

	klog.Printf("shutdown: sending SIGTERM to all processes")
	unix.Kill(-1, unix.SIGTERM)
	if !waitNoChildren(r, termGrace) {
		klog.Printf("shutdown: processes left after %s: sending SIGKILL", termGrace)
		unix.Kill(-1, unix.SIGKILL)
		waitNoChildren(r, killGrace)
	}

	klog.Printf("shutdown: syncing and unmounting")
	unix.Sync()
	unmountAll()
	unix.Sync()
}

// waitNoChildren reaps until no children remain or the grace period ends.
func waitNoChildren(r *reaper, grace time.Duration) bool {
	deadline := time.Now().Add(grace)
	for {
		if !r.reap() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// unmountAll detaches every mount, newest first, ignoring errors (busy or
// pseudo filesystems), then makes the root read-only for disk-backed roots.
func unmountAll() {
	mounts, err := readMountinfo()
	if err != nil {
		klog.Printf("shutdown: read mounts: %v", err)
		return
	}
	for i := len(mounts) - 1; i >= 0; i-- {
		if p := mounts[i].point; p != "/" {
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil {
				klog.Debugf("unmount %s: %v", p, err)
			}
		}
	}
	unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
}

func finalReboot(a action) {
	cmd := unix.LINUX_REBOOT_CMD_POWER_OFF
	switch a {
	case actionReboot:
		cmd = unix.LINUX_REBOOT_CMD_RESTART
	case actionHalt:
		cmd = unix.LINUX_REBOOT_CMD_HALT
	}
	klog.Printf("shutdown: %s", a)
	err := unix.Reboot(cmd)
	klog.Printf("shutdown: reboot(2) failed: %v; halting here", err)
	if os.Getpid() == 1 {
		hang()
	}
}
