package build

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	klayout "github.com/keel-os/keel/internal/layout"
	"github.com/keel-os/keel/packer/iso"
	"github.com/keel-os/keel/packer/output"
	"github.com/keel-os/keel/packer/rootfs"
)

// The formats whose root file system is one image for a disk, beside the
// kernel and command line, as LinuxKit writes them: PREFIX-kernel,
// PREFIX-cmdline and PREFIX-squashfs.img, PREFIX.iso or PREFIX-erofs.img;
// Keel adds PREFIX-initrd.img, which mounts it (Debian's kernel has the
// drivers and file systems as modules).
const (
	// FormatKernelSquashfs writes the whole root as one squashfs image.
	FormatKernelSquashfs = "kernel+squashfs"
	// FormatKernelISO writes the whole root as an ISO 9660 file system
	// with Rock Ridge (not bootable itself: the kernel boots it).
	FormatKernelISO = "kernel+iso"
	// FormatKernelErofs writes the whole root as one erofs image.
	FormatKernelErofs = "kernel+erofs"
)

// diskRootSuffix is the root image's file name after PREFIX.
var diskRootSuffix = map[string]string{
	FormatKernelSquashfs: "-squashfs.img",
	FormatKernelISO:      ".iso",
	FormatKernelErofs:    "-erofs.img",
}

// diskRoot says whether format puts the root on a disk.
func diskRoot(format string) bool { _, ok := diskRootSuffix[format]; return ok }

// diskBootPart is the initramfs of a root on a disk: /init, the modules
// that reach and mount the disk, and the klayout.RootDisk marker, which
// tells init to mount the device named by root=.
func diskBootPart(kf kernelFiles, kd v1.Hash, initLayers []rootfs.Layer, initInputs []string) part {
	p := bootPart("disk boot", klayout.RootDiskModules, kf, kd, initLayers, initInputs)
	p.What = "boot files (root on a disk)"
	p.sys.Files = append(p.sys.Files, rootfs.Entry{
		Hdr:  tar.Header{Name: strings.TrimPrefix(klayout.RootDisk, "/"), Typeflag: tar.TypeReg, Mode: 0o444},
		Body: []byte("the root is on the block device named by root= on the kernel command line\n"),
	})
	return p
}

// diskCmdline is the command line of a root on a disk: the spec's, with
// root= naming the first virtio disk unless the spec names one itself.
func diskCmdline(cmdline string) string {
	for _, w := range strings.Fields(cmdline) {
		if strings.HasPrefix(w, klayout.RootDiskParam+"=") {
			return cmdline
		}
	}
	return strings.TrimSpace(cmdline + " " + klayout.RootDiskParam + "=" + klayout.RootDiskDefault)
}

// writeDiskRoot writes kernel+squashfs, kernel+iso or kernel+erofs: the kernel, a small
// initrd (bootInitrd of the boot part), the command line with root= and
// the whole root as one image.
func writeDiskRoot(ctx context.Context, opt Options, l *layout, comp output.Compression, segDir string) (*Result, error) {
	if l.diskBoot.sys == nil {
		return nil, fmt.Errorf("format %s needs the spec's init images (they hold /init, which mounts the root from the disk): add an init section", opt.Format)
	}
	if opt.Rootfs == RootfsInitrd {
		return nil, fmt.Errorf("format %s puts the root on a disk, not in the initrd: drop --rootfs initrd", opt.Format)
	}
	paths, report, err := segments(segDir, []part{l.diskBoot}, cpioSegments, comp, opt.Progress)
	if err != nil {
		return nil, fmt.Errorf("writing initrd: %w", err)
	}
	res := &Result{Segments: report}
	kernel, err := l.kernel.kernel()
	if err != nil {
		return nil, err
	}
	defer kernel.Close()
	o := &outputs{rep: opt.Progress}
	base := filepath.Join(opt.Dir, opt.Name)
	res.Kernel, res.Initrd, res.Cmdline = base+"-kernel", base+"-initrd.img", base+"-cmdline"
	res.Root = base + diskRootSuffix[opt.Format]
	steps := []struct {
		final string
		body  func(io.Writer) error
	}{
		{res.Kernel, func(w io.Writer) error { _, err := io.Copy(w, kernel); return err }},
		{res.Initrd, func(w io.Writer) error {
			if _, err := w.Write(l.ucode); err != nil {
				return err
			}
			seg, err := os.Open(paths[0])
			if err != nil {
				return err
			}
			defer seg.Close()
			_, err = io.Copy(w, seg)
			return err
		}},
		{res.Cmdline, func(w io.Writer) error { _, err := io.WriteString(w, diskCmdline(l.cmdline)); return err }},
		{res.Root, func(w io.Writer) error { return writeRootImage(ctx, opt.Format, w, l, comp) }},
	}
	for _, s := range steps {
		f, err := o.create(s.final)
		if err != nil {
			o.abort()
			return nil, err
		}
		if err := s.body(f); err != nil {
			o.abort()
			return nil, fmt.Errorf("writing %s: %w", s.final, err)
		}
	}
	return res, o.commit()
}

// writeRootImage writes every part of l, in order (a later entry replaces
// an earlier one, as in the initrd), as one file system image to w.
func writeRootImage(ctx context.Context, format string, w io.Writer, l *layout, comp output.Compression) error {
	systems := make([]*rootfs.System, len(l.parts))
	for i, p := range l.parts {
		systems[i] = p.sys
	}
	switch format {
	case FormatKernelSquashfs:
		return writeSquashfsRoot(ctx, w, systems, comp)
	case FormatKernelISO:
		return writeISORoot(w, systems)
	case FormatKernelErofs:
		return writeErofsRoot(ctx, w, systems)
	}
	return fmt.Errorf("no root image for format %s", format)
}

// writeSquashfsRoot writes systems as one squashfs image to w.
func writeSquashfsRoot(ctx context.Context, w io.Writer, systems []*rootfs.System, comp output.Compression) error {
	work, err := os.MkdirTemp("", "keel-squashfs-root-")
	if err != nil {
		return fmt.Errorf("creating scratch directory: %w", err)
	}
	defer os.RemoveAll(work)
	sq, err := output.NewSquashfs(work)
	if err != nil {
		return err
	}
	defer sq.Close()
	if err := rootfs.WriteAll(sq, systems...); err != nil {
		return err
	}
	img := filepath.Join(work, "root.squashfs")
	if err := sq.Write(ctx, img, comp); err != nil {
		return err
	}
	f, err := os.Open(img)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}

// writeISORoot writes systems as one ISO 9660 image with Rock Ridge to w.
func writeISORoot(w io.Writer, systems []*rootfs.System) error {
	tree, err := iso.NewTree("")
	if err != nil {
		return err
	}
	defer tree.Close()
	if err := rootfs.WriteAll(tree, systems...); err != nil {
		return err
	}
	_, err = tree.WriteTo(w)
	return err
}

// writeErofsRoot writes systems as one erofs image to w (output.Erofs).
func writeErofsRoot(ctx context.Context, w io.Writer, systems []*rootfs.System) error {
	work, err := os.MkdirTemp("", "keel-erofs-root-")
	if err != nil {
		return fmt.Errorf("creating scratch directory: %w", err)
	}
	defer os.RemoveAll(work)
	e, err := output.NewErofs(work)
	if err != nil {
		return err
	}
	defer e.Close()
	if err := rootfs.WriteAll(e, systems...); err != nil {
		return err
	}
	img := filepath.Join(work, "root.erofs")
	if err := e.Write(ctx, img); err != nil {
		return err
	}
	f, err := os.Open(img)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
