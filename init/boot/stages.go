package boot

import "fmt"

// state is what boot steps hand on to later ones. The runner passes it to
// every step; a step reads and sets only the fields named in its doc
// comment, so what flows between steps is written down here rather than
// hidden in closures over boot's variables.
type state struct {
	// cmd is the kernel command line: read at the start, before /proc
	// is mounted in stage 1, and again by mount-early.
	cmd cmdline
	// imaged says root-image mounted the root image at newRootDir, so
	// root-move enters it instead of copying the initramfs.
	imaged bool
	// moved says root-move left the initramfs: init re-executes from the
	// new root.
	moved bool
	// devices is closed when the modules step is done: svcd holds the
	// onboot containers until then (initctl.DevicesFDEnv).
	devices chan struct{}
	// kernelFS is closed when the kernel-filesystems step is done; the
	// modules step closes devices only after it, so the onboot containers
	// find the optional kernel filesystems mounted too.
	kernelFS chan struct{}
}

// newState starts a boot's state from the kernel command line.
func newState(cmd cmdline) *state {
	return &state{cmd: cmd, devices: make(chan struct{}), kernelFS: make(chan struct{})}
}

// noState adapts a step that needs nothing from the others.
func noState(fn func() error) func(*state) error {
	return func(*state) error { return fn() }
}

// stage1Steps leave the initramfs, from the first init.
func stage1Steps() []step {
	return []step{
		{name: "mount-early", run: earlyMountStep, essential: true},
		// Before anything but init runs, so every program's heap sees it.
		{name: "hugepages", run: func(st *state) error { return hugePagesStep(st.cmd, "/sys") }},
		{name: "root-image", run: rootImageStep, essential: true, when: wantRootImage},
		{name: "root-move", run: rootMoveStep, essential: true},
	}
}

// rootSteps finish what stage 1 started, in stage 2.
func rootSteps() []step {
	return []step{
		{name: "root-finish", run: noState(finishRootMove), essential: true},
	}
}

// mountSteps mount the rest.
func mountSteps() []step {
	return []step{{name: "mounts", run: noState(lateMountStep), essential: true}}
}

// cgroupSteps mount cgroup v2, alone: they run before anything else runs
// beside init (cgroupStep says why).
func cgroupSteps() []step {
	return []step{{name: "cgroups", run: noState(cgroupStep), essential: true}}
}

// systemSteps set the system up for svcd, while the modules load beside
// them.
func systemSteps() []step {
	return []step{
		{name: "rlimits", run: noState(rlimitStep)},
		{name: "resolv.conf", run: noState(func() error { return resolvConfStep("/etc", resolvConfTarget) })},
		{name: "clock", run: noState(clockStep)},
		{name: "loopback", run: noState(loopbackStep)},
		{name: "hostname", run: noState(hostnameStep)},
		{name: "ctrl-alt-del", run: noState(ctrlAltDelStep)},
		{name: "root-readonly", run: func(st *state) error { return readOnlyRootStep(st.cmd) }},
		// After root-readonly, so the read-only binds land on the
		// /containers mount that stays.
		{name: "volumes", run: noState(volumesStep)},
	}
}

// wantRootImage says whether root-image runs: there is a root image or
// disk and the root is still the initramfs.
func wantRootImage(*state) bool { return hasRootImage() && needRootMove() }

// rootImageStep mounts the root image (or the disk st.cmd's root= names)
// and sets st.imaged.
func rootImageStep(st *state) error {
	if err := mountRootImage(newRootDir, st.cmd); err != nil {
		return fmt.Errorf("%w (booting on from the initramfs, which holds only init)", err)
	}
	st.imaged = true
	return nil
}

// rootMoveStep leaves the initramfs for the root image (st.imaged) or a
// copy of itself, and sets st.moved.
func rootMoveStep(st *state) error {
	if !needRootMove() {
		klog.Debugf("root is not the initramfs: no root move")
		return nil
	}
	move := moveRoot
	if st.imaged {
		move = enterNewRoot
	}
	if err := move(); err != nil {
		return err
	}
	st.moved = true
	return nil
}

// modulesBootStep loads the modules and closes st.devices when done,
// whether or not loading went well, and once st.kernelFS is closed.
func modulesBootStep(st *state) error {
	defer func() {
		if st.kernelFS != nil {
			<-st.kernelFS
		}
		close(st.devices)
	}()
	return modulesStep(st.cmd)
}

// kernelFSBootStep mounts the optional kernel filesystems and closes
// st.kernelFS when done. It runs beside the steps after mounts: mounting
// bpffs waits about 70 ms under TCG (with no CPU used), which init spent
// in mount(2) before svcd could start. Nothing before the onboot
// containers needs these filesystems.
func kernelFSBootStep(st *state) error {
	defer close(st.kernelFS)
	return mountKernelFilesystems("/proc/filesystems")
}
