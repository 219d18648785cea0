package boot

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/keel-os/keel/internal/kmod"
	"github.com/keel-os/keel/internal/layout"
	"golang.org/x/sys/unix"
)

// moduleRequest is one line of /etc/modules.
type moduleRequest struct {
	name, params string
}

// parseModulesList reads /etc/modules: one module per line, optional
// parameters after the name, '#' starts a comment.
func parseModulesList(s string) []moduleRequest {
	var out []moduleRequest
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		out = append(out, moduleRequest{name: f[0], params: strings.Join(f[1:], " ")})
	}
	return out
}

// deviceModules are loaded at boot whenever the image carries them,
// though no device asks for them: their device nodes (/dev/loop0 to
// loop7) exist from boot on LinuxKit's kernel, which builds them in, and
// the containers that use them (the losetup package) look for the nodes.
// devtmpfs has no node for a module that is not loaded, so nothing would
// load it on demand. The squashfs root's images, which loaded loop before
// they moved to RAM disks, no longer need it.
var deviceModules = []string{"loop"}

// modulesStep loads the modules /etc/modules asks for, then those the
// present devices need. A module that fails is logged, never fatal. cmd
// says whether coldplug also loads CPU modules.
func modulesStep(cmd cmdline) error {
	start := time.Now()
	l, err := openLoader()
	if kmod.IsNotExist(err) {
		klog.Printf("no kernel module index for this kernel: skipping modules")
		return nil
	}
	if err != nil {
		return err
	}
	startHotplug(l)
	failed := 0
	if raw, err := os.ReadFile(layout.ModulesLoad); err == nil {
		for _, req := range parseModulesList(string(raw)) {
			if err := l.Load(req.name, req.params); err != nil {
				failed++
				klog.Printf("module %s: %v", req.name, err)
			}
		}
	}
	listed := len(l.Loaded())
	for _, m := range deviceModules {
		if err := l.Load(m, ""); kmod.IsNotExist(err) {
			klog.Debugf("module %s: %v", m, err)
		} else if err != nil {
			failed++
			klog.Printf("module %s: %v", m, err)
		}
	}
	sum := l.Coldplug("/sys", kmod.ColdplugOptions{CPU: cmd[paramColdplug] == "cpu"})
	for _, f := range sum.Failed {
		klog.Printf("module %s: %v", f.Module, f.Err)
	}
	failed += len(sum.Failed)
	for i := range sum.Omitted {
		// A device this image has no driver for: say so, and how to fix it.
		klog.Printf("modules: %v", &sum.Omitted[i])
	}
	klog.Printf("modules: %d loaded (%d listed, %d for %d devices), %d failed, in %s",
		len(l.Loaded()), listed, len(sum.Loaded), sum.Devices, failed, time.Since(start).Round(time.Millisecond))
	klog.Debugf("modules loaded: %s", strings.Join(l.Loaded(), " "))
	klog.Debugf("coldplug: %d passes over /sys took %s", sum.Passes, sum.ScanTime.Round(time.Millisecond))
	if len(sum.NoDevice) > 0 {
		klog.Debugf("modules that found no device: %s", strings.Join(sum.NoDevice, " "))
	}
	return nil
}

// startHotplug loads the modules of devices added after boot (hot-added
// disks and NICs, USB). Errors are logged; hotplug never stops the boot.
func startHotplug(l *kmod.Loader) {
	fd, err := openUevents()
	if err != nil {
		klog.Printf("hotplug: %v; devices added later get no modules", err)
		return
	}
	goForever("hotplug", func() {
		listenUevents(fd, func(modalias string) {
			mods, err := l.LoadAlias(modalias)
			switch {
			case errors.Is(err, unix.ENODEV): // the module found nothing to drive: normal
				klog.Debugf("hotplug %s: %v", modalias, err)
			case err != nil:
				klog.Printf("hotplug %s: %v", modalias, err)
			case len(mods) > 0:
				klog.Debugf("hotplug %s: %s", modalias, strings.Join(mods, " "))
			}
		})
	})
}

// loopbackStep brings lo up; the kernel then adds 127.0.0.1 and ::1.
func loopbackStep() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: read flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring up lo: %w", err)
	}
	return nil
}

const defaultHostname = "keel"

// hostnameStep sets the hostname from /etc/hostname, else from the first
// NIC's MAC address, else "keel". The metadata agent may change it later.
func hostnameStep() error {
	name := ""
	if raw, err := os.ReadFile("/etc/hostname"); err == nil {
		if f := strings.Fields(string(raw)); len(f) > 0 {
			name = f[0]
		}
	}
	if name == "" {
		name = hostnameFromMAC("/sys/class/net")
	}
	if name == "" {
		name = defaultHostname
	}
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("set hostname %q: %w", name, err)
	}
	klog.Debugf("hostname %s", name)
	return nil
}

// ctrlAltDelStep makes the kernel send SIGINT to PID 1 on ctrl-alt-del
// instead of rebooting on the spot, so it becomes a clean reboot.
func ctrlAltDelStep() error {
	if err := unix.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
		return fmt.Errorf("disable hard ctrl-alt-del: %w", err)
	}
	return nil
}
