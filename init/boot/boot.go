// Package boot is the life of Keel's PID 1: it mounts the basic
// filesystems, leaves the initramfs root so containers can pivot_root,
// loads kernel modules, starts svcd and keeps it running, reaps orphans,
// and shuts the machine down on request. The init command is a thin main
// over it; /init's other names (poweroff, reboot, halt, modprobe) are here
// too.
package boot

import (
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"time"

	"github.com/keel-os/keel/internal/initctl"
	"github.com/keel-os/keel/internal/layout"
	"golang.org/x/sys/unix"
)

// Run boots the system and then supervises it, as PID 1. It never
// returns: a panic is logged and init hangs, since PID 1 exiting panics
// the kernel.
func Run() {
	defer func() {
		if p := recover(); p != nil {
			klog.Printf("FATAL: panic: %v\n%s", p, debug.Stack())
		}
		hang()
	}()
	boot()
}

// boot runs the boot steps and then supervises; it only returns on a panic.
func boot() {
	// Catch every signal whose Go default is to exit, before anything else.
	ignored := make(chan os.Signal, 8)
	signal.Notify(ignored, unix.SIGHUP, unix.SIGQUIT, unix.SIGPIPE, unix.SIGALRM, unix.SIGVTALRM,
		unix.SIGPROF, unix.SIGXCPU, unix.SIGXFSZ, unix.SIGIO, unix.SIGSYS, unix.SIGSTKFLT, unix.SIGTRAP,
		unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU)
	shutdownSigs := make(chan os.Signal, 4)
	for _, s := range slices.Concat(initctl.PoweroffSignals, initctl.RebootSignals, initctl.HaltSignals) {
		signal.Notify(shutdownSigs, s)
	}
	sigchld := make(chan os.Signal, 1)
	signal.Notify(sigchld, unix.SIGCHLD)
	goForever("ignored signals", func() {
		for s := range ignored {
			klog.Debugf("ignoring signal %v", s)
		}
	})

	stage2 := os.Getenv(stageEnv) == "2"
	runner := &stepRunner{clock: sinceBoot, stage: 1, log: klog}
	if stage2 {
		runner.records = decodeRecords(os.Getenv(recordsEnv))
		os.Unsetenv(stageEnv)
		os.Unsetenv(recordsEnv)
		klog.openKmsg()
	}
	cmd := readCmdline()
	klog.setDebug(cmd.has(paramDebug))

	if !stage2 {
		moved, imaged := false, false
		runner.run([]step{{name: "mount-early", run: earlyMountStep, essential: true}})
		if hasRootImage() && needRootMove() {
			runner.run([]step{{name: "root-image", essential: true, run: func() error {
				if err := mountRootImage(newRootDir); err != nil {
					return fmt.Errorf("%w (booting on from the initramfs, which holds only init)", err)
				}
				imaged = true
				return nil
			}}})
		}
		runner.run([]step{
			{name: "root-move", essential: true, run: func() error {
				cmd = readCmdline() // /proc was only just mounted
				if !needRootMove() {
					klog.Debugf("root is not the initramfs: no root move")
					return nil
				}
				move := moveRoot
				if imaged {
					move = enterNewRoot
				}
				if err := move(); err != nil {
					return err
				}
				moved = true
				return nil
			}},
		})
		if moved {
			err := reexec(runner.records)
			klog.Printf("ESSENTIAL: re-executing init from the new root failed: %v (continuing)", err)
		}
	}
	runner.stage = 2
	waitPrefetch := runner.background(step{name: "prefetch", run: prefetchStep})
	runner.run([]step{
		{name: "root-finish", run: finishRootMove, essential: true},
		{name: "mounts", run: lateMountStep, essential: true},
	})
	// The modules load beside the rest of the boot: svcd and containerd
	// need no device, and svcd holds the onboot containers until the scan
	// is done (initctl.DevicesFDEnv). Under TCG this overlapped the 1.2 s
	// of loading with svcd's start.
	devices := make(chan struct{})
	waitModules := runner.background(step{name: "modules", run: func() error {
		defer close(devices)
		return modulesStep()
	}})
	runner.run([]step{
		{name: "cgroups", run: cgroupStep, essential: true},
		{name: "rlimits", run: rlimitStep},
		{name: "resolv.conf", run: func() error { return resolvConfStep("/etc", resolvConfTarget) }},
		{name: "clock", run: clockStep},
		{name: "loopback", run: loopbackStep},
		{name: "hostname", run: hostnameStep},
		{name: "ctrl-alt-del", run: ctrlAltDelStep},
		{name: "root-readonly", run: func() error { return readOnlyRootStep(cmd) }},
		// After root-readonly, so the read-only binds land on the
		// /containers mount that stays.
		{name: "volumes", run: volumesStep},
	})

	r := newReaper(wait4Any)
	goForever("reaper", func() {
		r.reap()
		for range sigchld {
			r.reap()
		}
	})
	sup := newSupervisor(layout.Svcd, r)
	sup.devices = devices
	go func() {
		defer func() {
			if p := recover(); p != nil {
				klog.Printf("svcd supervisor: panic: %v\n%s", p, debug.Stack())
			}
		}()
		sup.run()
	}()
	runner.run([]step{{name: "svcd", run: sup.waitStarted}})
	waitModules()
	waitPrefetch()

	if err := writeBootLog(layout.BootLog, runner.records); err != nil {
		klog.Printf("%v", err)
	}
	var total time.Duration
	if n := len(runner.records); n > 0 {
		last := runner.records[n-1]
		total = time.Duration(last.StartNS + last.DurationNS)
	}
	klog.Printf("boot done %s after kernel start", total.Round(time.Millisecond))

	timeout, err := cmd.seconds(paramShutdownTimeout, defaultShutdownTimeout)
	if err != nil {
		klog.Printf("%v", err)
	}
	handleShutdownSignals(shutdownSigs, sup, r, timeout)
}

// handleShutdownSignals starts the shutdown on the first signal and logs
// and ignores later ones.
func handleShutdownSignals(sigs <-chan os.Signal, sup *supervisor, r *reaper, timeout time.Duration) {
	started := false
	for s := range sigs {
		sig, _ := s.(unix.Signal)
		a, ok := actionFor(sig)
		if !ok {
			continue
		}
		if started {
			klog.Printf("got %v during shutdown: ignored", s)
			continue
		}
		started = true
		klog.Printf("got %v: shutting down to %s", s, a)
		go shutdown(a, sup, r, timeout)
	}
}

// goForever runs fn in a goroutine, restarting it after a panic: the reaper
// and signal loops must outlive any bug.
func goForever(name string, fn func()) {
	go func() {
		for {
			err := runRecovered(func() error { fn(); return nil })
			if err == nil {
				return
			}
			klog.Printf("%s: %v; restarting it", name, err)
			time.Sleep(time.Second)
		}
	}()
}

// hang blocks forever. Sleeping (rather than select{}) keeps the runtime
// from ever deciding all goroutines are deadlocked, which would exit.
func hang() {
	for {
		time.Sleep(time.Hour)
	}
}
