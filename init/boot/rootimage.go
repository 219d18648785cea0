package boot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keel-os/keel/internal/layout"
	"golang.org/x/sys/unix"
)

// An initrd with a squashfs root (keel build's default) holds only /init,
// the modules below and the system as squashfs images, one per part
// (layout.RootParts: kernel modules, init images, each container, the
// spec's files), or, from keel versions before that, one image of the
// whole root (layout.RootImage). Instead of binding the initramfs for the
// root move, init mounts every image read-only from a RAM disk (or, where
// there is none, through a loop device; ramdisk.go says why),
// stacks them under one overlay with a tmpfs on top (so the root stays
// writable where the system writes, and a later part's file replaces an
// earlier one's, as in the initramfs) and moves into that. The images stay
// compressed in RAM; what is read from them lives in the page cache, which
// the kernel can drop.

// imageDir holds the images' mounts; it stays in the initramfs, out of
// sight once the root has moved.
const imageDir = "/.keel-image"

// imageModules are loaded before mounting; built-in ones need nothing.
// brd (ramDiskModule) and loop are loaded as the images need them.
var imageModules = []string{"squashfs", "overlay"}

// rootImages returns the root images the initramfs carries, bottom layer
// first, or nil.
func rootImages() []string { return findRootImages(layout.RootImage, layout.RootParts) }

// findRootImages returns the image single if it is a file, else the
// *.squashfs files of dir in name order.
func findRootImages(single, dir string) []string {
	if st, err := os.Stat(single); err == nil && st.Mode().IsRegular() {
		return []string{single}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents { // ReadDir sorts by name: the stacking order
		if e.Type().IsRegular() && strings.HasSuffix(e.Name(), ".squashfs") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// hasRootImage reports whether the initramfs carries a root image or is
// the boot initramfs of a root on a disk.
func hasRootImage() bool { return len(rootImages()) > 0 || hasRootDisk() }

// mountRootImage mounts the root images, or the root on a disk, with
// their overlay at target.
func mountRootImage(target string, cmd cmdline) error {
	disk := hasRootDisk()
	// Without a module index the drivers are taken to be built in.
	load := func(string, string) error { return nil }
	loaded := func(string) error { return nil }
	if l, err := openLoader(); err != nil {
		klog.Printf("root image: no module index (%v): assuming %v are built in", err, imageModules)
	} else if disk {
		loadDiskModules(l)
	} else {
		load = l.Load
		// Beside each other and beside brd (openRAMDisks): a module load
		// is the kernel's work on one CPU, and init is alone here, so the
		// other CPU was idle. Under TCG squashfs took 36 ms, overlay 60
		// and brd 30, one after the other; overlay is waited for only
		// once the images are mounted.
		loaded = loadInBackground(l.Load, imageModules)
	}
	rw := filepath.Join(imageDir, "rw")
	for _, d := range []string{rw, target} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	var lowers []string
	var what string
	if disk {
		lower := filepath.Join(imageDir, "0")
		desc, err := mountRootDisk(cmd, lower)
		if err != nil {
			return err
		}
		lowers, what = []string{lower}, desc
	} else {
		images := rootImages()
		rd, err := openRAMDisks(load, "/sys/block", images)
		if lerr := loaded("squashfs"); lerr != nil {
			return fmt.Errorf("load module squashfs: %w", lerr)
		}
		if err != nil {
			klog.Printf("root image: no RAM disks (%v): mounting through loop devices", err)
		}
		devs := make([]string, len(images))
		for i, img := range images {
			if devs[i], _, err = rd.reserve(img); err != nil {
				return err
			}
		}
		// overlayfs lists its lower layers topmost first.
		lowers = make([]string, len(images))
		for i := range images {
			lowers[len(images)-1-i] = filepath.Join(imageDir, strconv.Itoa(i))
		}
		if err := mountImages(load, images, devs, lowers); err != nil {
			return err
		}
		onRAM := 0
		for _, d := range devs {
			if d != "" {
				onRAM++
			}
		}
		what = fmt.Sprintf("%d squashfs image(s) of %s (%d on RAM disks, %d on loop devices)", len(images), filepath.Dir(images[0]), onRAM, len(images)-onRAM)
	}
	if err := unix.Mount("tmpfs", rw, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mount the overlay's tmpfs on %s: %w", rw, err)
	}
	upper, work := filepath.Join(rw, "upper"), filepath.Join(rw, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := loaded("overlay"); err != nil {
		return fmt.Errorf("load module overlay: %w", err)
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", strings.Join(lowers, ":"), upper, work)
	if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount the overlay root (%s) on %s: %w", opts, target, err)
	}
	if err := bindInit(target); err != nil {
		return err
	}
	klog.Printf("root: %s read-only, under a tmpfs overlay", what)
	return nil
}

// bindInit makes the initramfs's /init the new root's: the images leave it
// out (the initramfs holds it already, so a copy in them cost 1.2 MB of
// every initrd), and init re-executes itself from the new root, where the
// kernel also finds it as /sbin/modprobe. Images of an older keel carry
// their own, which stays.
func bindInit(target string) error {
	dst := filepath.Join(target, layout.Init)
	if _, err := os.Lstat(dst); err == nil {
		return nil
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return fmt.Errorf("create %s for the initramfs's %s: %w", dst, layout.Init, err)
	}
	f.Close()
	if err := unix.Mount(layout.Init, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind the initramfs's %s on %s: %w", layout.Init, dst, err)
	}
	return nil
}

// mountImages mounts each image on the directory of the same index in
// dirs, from its RAM disk in devs or, where devs has "", through a loop
// device. The RAM disks are filled and mounted two at a time: a copy is
// one CPU's memory traffic, and init is alone here, so the other CPU
// was idle (under TCG the six images of examples/minimal.yml took 118
// ms one after the other). Loop devices are set up one at a time: two
// at once could be handed the same free device.
func mountImages(load func(name, params string) error, images, devs, dirs []string) error {
	errs := make([]error, len(images))
	slots := make(chan struct{}, 2)
	var wg sync.WaitGroup
	for i, img := range images {
		if devs[i] == "" {
			continue
		}
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			errs[i] = mountImage(load, devs[i], img, dirs[i])
			<-slots
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, img := range images {
		if devs[i] != "" {
			continue
		}
		if err := mountImage(load, "", img, dirs[i]); err != nil {
			return err
		}
	}
	return nil
}

// mountImage mounts the squashfs image img read-only on dir: copied to
// the RAM disk dev (and then removed, as the disk holds it now), or, when
// dev is "", through a loop device.
func mountImage(load func(name, params string) error, dev, img, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	ram := dev != ""
	var f *os.File
	var err error
	if ram {
		if err := copyToDisk(img, dev); err != nil {
			return err
		}
		f, err = os.Open(dev)
	} else {
		if lerr := load("loop", ""); lerr != nil {
			return fmt.Errorf("load module loop: %w", lerr)
		}
		dev, f, err = attachLoop(img)
	}
	if err != nil {
		return err
	}
	// No read-ahead on the device: squashfs already reads a whole block
	// per fault, and the kernel's read-ahead (128 KiB by default) around
	// each page fault of a program only fills the page cache with more of
	// it, pushing out pages still in use where memory is short. Measured
	// under TCG at -m 128 (examples/minimal.yml, one CPU): every service
	// after 28 s instead of 59 s; with memory to spare no slower.
	if err := unix.IoctlSetInt(int(f.Fd()), unix.BLKRASET, 0); err != nil {
		klog.Debugf("no read-ahead on %s: %v", dev, err)
	}
	// A loop device with autoclear detaches itself if its last descriptor
	// closes before the mount holds it.
	err = unix.Mount(dev, dir, "squashfs", unix.MS_RDONLY, "")
	f.Close()
	if err != nil {
		return fmt.Errorf("mount %s (%s) read-only on %s: %w", img, dev, dir, err)
	}
	if ram {
		if err := os.Remove(img); err != nil {
			klog.Debugf("remove %s, copied to %s: %v", img, dev, err)
		}
	}
	return nil
}

// attachLoop binds file to a free loop device, read-only, and returns the
// device's path and an open descriptor of it. The device detaches itself
// once its last user is gone: keep the descriptor until it is mounted.
func attachLoop(file string) (string, *os.File, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("open /dev/loop-control (is the loop module loaded?): %w", err)
	}
	defer ctl.Close()
	img, err := os.Open(file)
	if err != nil {
		return "", nil, fmt.Errorf("open %s: %w", file, err)
	}
	defer img.Close()
	// Another process may take the free device first: try again then.
	for try := 0; ; try++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return "", nil, fmt.Errorf("find a free loop device: %w", err)
		}
		dev := fmt.Sprintf("/dev/loop%d", n)
		f, err := configureLoop(dev, img, file)
		if errors.Is(err, unix.EBUSY) && try < 5 {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err != nil {
			return "", nil, err
		}
		return dev, f, nil
	}
}

// configureLoop attaches img to dev with LOOP_CONFIGURE, or on kernels
// before 5.8 with LOOP_SET_FD and LOOP_SET_STATUS64, and returns dev open.
func configureLoop(dev string, img *os.File, name string) (*os.File, error) {
	f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dev, err)
	}
	if err := setLoop(f, dev, img, name); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func setLoop(f *os.File, dev string, img *os.File, name string) error {
	info := unix.LoopInfo64{Flags: unix.LO_FLAGS_READ_ONLY | unix.LO_FLAGS_AUTOCLEAR}
	copy(info.File_name[:len(info.File_name)-1], name)
	cfg := unix.LoopConfig{Fd: uint32(img.Fd()), Info: info}
	err := unix.IoctlLoopConfigure(int(f.Fd()), &cfg)
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOTTY) {
		if err != nil {
			return fmt.Errorf("attach %s to %s: %w", name, dev, err)
		}
		return nil
	}
	if err := unix.IoctlSetInt(int(f.Fd()), unix.LOOP_SET_FD, int(img.Fd())); err != nil {
		return fmt.Errorf("attach %s to %s: %w", name, dev, err)
	}
	if err := unix.IoctlLoopSetStatus64(int(f.Fd()), &info); err != nil {
		_ = unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0)
		return fmt.Errorf("set up %s: %w", dev, err)
	}
	return nil
}

// loadInBackground starts loading each of names at once and returns a
// function that waits for one of them to be loaded (nil for a name it was
// not given). Waiting twice for a name gives the same answer.
func loadInBackground(load func(name, params string) error, names []string) func(name string) error {
	done := make(map[string]chan error, len(names))
	for _, n := range names {
		ch := make(chan error, 1)
		done[n] = ch
		go func() { ch <- load(n, "") }()
	}
	return func(name string) error {
		ch, ok := done[name]
		if !ok {
			return nil
		}
		err := <-ch
		ch <- err
		return err
	}
}
