// Package boot is the life of Keel's PID 1: it mounts the basic
// filesystems, leaves the initramfs root so containers can pivot_root,
// loads kernel modules, starts svcd and keeps it running, reaps orphans,
// and shuts the machine down on request. The init command is a thin main
// over it; /init's other names (poweroff, reboot, halt, modprobe) are here
// too.
package boot

import (
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"time"

	"github.com/keel-os/keel/internal/bootlog"
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

// signals are the channels boot listens on once catchSignals set them up.
type signals struct {
	shutdown <-chan os.Signal // poweroff, reboot, halt
	child    <-chan os.Signal // SIGCHLD: time to reap
}

// catchSignals catches every signal whose Go default is to exit, logging
// and ignoring those that mean nothing to init, and returns the rest.
func catchSignals() signals {
	ignored := make(chan os.Signal, 8)
	signal.Notify(ignored, unix.SIGHUP, unix.SIGQUIT, unix.SIGPIPE, unix.SIGALRM, unix.SIGVTALRM,
		unix.SIGPROF, unix.SIGXCPU, unix.SIGXFSZ, unix.SIGIO, unix.SIGSYS, unix.SIGSTKFLT, unix.SIGTRAP,
		unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU)
	shutdown := make(chan os.Signal, 4)
	for _, s := range slices.Concat(initctl.PoweroffSignals, initctl.RebootSignals, initctl.HaltSignals) {
		signal.Notify(shutdown, s)
	}
	child := make(chan os.Signal, 1)
	signal.Notify(child, unix.SIGCHLD)
	goForever("ignored signals", func() {
		for s := range ignored {
			klog.Debugf("ignoring signal %v", s)
		}
	})
	return signals{shutdown: shutdown, child: child}
}

// boot runs the boot steps and then supervises; it only returns on a panic.
func boot() {
	// Before anything else, so no signal can end PID 1.
	sigs := catchSignals()

	stage2 := os.Getenv(stageEnv) == "2"
	runner := &stepRunner{clock: sinceBoot, stage: 1, log: klog}
	if stage2 {
		runner.records = decodeRecords(os.Getenv(recordsEnv))
		os.Unsetenv(stageEnv)
		os.Unsetenv(recordsEnv)
		klog.openKmsg()
	}
	st := newState(readCmdline())
	klog.setDebug(st.cmd.has(paramDebug))

	if !stage2 {
		runner.run(st, stage1Steps())
		if st.moved {
			err := reexec(runner.records)
			klog.Printf("ESSENTIAL: re-executing init from the new root failed: %v (continuing)", err)
		}
	}
	runner.stage = 2
	runner.run(st, rootSteps())
	runner.run(st, cgroupSteps())
	// No prefetch of the programs: reading runc and the multi-call binary
	// whole beside the boot once took their decompression off svcd's
	// critical path, but with the loop devices' read-ahead off and the
	// programs in 128 KiB blocks it cost more CPU than it saved (under
	// TCG with two CPUs, every service up in a median 5.22 s of guest
	// clock without it against 5.73 s with it, 8 interleaved boots each).
	runner.run(st, mountSteps())
	// The modules load beside the rest of the boot: svcd and containerd
	// need no device, and svcd holds the onboot containers until the scan
	// is done (initctl.DevicesFDEnv). Under TCG this overlapped the 1.2 s
	// of loading with svcd's start.
	waitKernelFS := runner.background(st, step{name: "kernel-filesystems", run: kernelFSBootStep})
	waitModules := runner.background(st, step{name: "modules", run: modulesBootStep})
	runner.run(st, systemSteps())

	r := newReaper(wait4Any)
	goForever("reaper", func() {
		r.reap()
		for range sigs.child {
			r.reap()
		}
	})
	sup := newSupervisor(layout.Svcd, r)
	sup.devices = st.devices
	go func() {
		defer func() {
			if p := recover(); p != nil {
				klog.Printf("svcd supervisor: panic: %v\n%s", p, debug.Stack())
			}
		}()
		sup.run()
	}()
	runner.run(st, []step{{name: "svcd", run: noState(sup.waitStarted)}})
	waitKernelFS()
	waitModules()

	if err := writeBootLog(layout.BootLog, runner.records); err != nil {
		klog.Printf("%v", err)
	}
	klog.Printf("boot done %s after kernel start", bootTotal(runner.records).Round(time.Millisecond))

	timeout, err := st.cmd.seconds(paramShutdownTimeout, defaultShutdownTimeout)
	if err != nil {
		klog.Printf("%v", err)
	}
	handleShutdownSignals(sigs.shutdown, sup, r, timeout)
}

// bootTotal is the time from kernel start to the end of the last step.
func bootTotal(recs []bootlog.Step) time.Duration {
	if len(recs) == 0 {
		return 0
	}
	last := recs[len(recs)-1]
	return time.Duration(last.StartNS + last.DurationNS)
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
