package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	klayout "github.com/keel-os/keel/internal/layout"
	"github.com/keel-os/keel/packer/output"
	"github.com/keel-os/keel/packer/progress"
	"github.com/keel-os/keel/packer/rootfs"

	"github.com/keel-os/keel/internal/atomicfile"
)

// The kinds of root filesystem (`keel build --rootfs`).
const (
	// RootfsInitrd unpacks the whole system from the initrd into RAM.
	RootfsInitrd = "initrd"
	// RootfsSquashfs puts each part of the system (kernel modules, init
	// images, each container, the files) into its own squashfs image; the
	// images travel in the initrd as files and init stacks them read-only
	// under a tmpfs overlay, so RAM holds them compressed instead of
	// unpacked. The default where it can be made (rootfsKind).
	RootfsSquashfs = "squashfs"
)

// rootfsKind is the root filesystem a build writes: the one asked for, or
// by default a squashfs root, which boots sooner and in less memory than
// the unpacked initrd (docs/formats.md has the measurements), where it can
// be made: the spec has init images (the initramfs keeps /init, which
// mounts the images) and mksquashfs is installed. Without mksquashfs the
// build says so once and unpacks the root from the initrd.
func rootfsKind(opt Options, l *layout) string {
	if opt.Rootfs != "" {
		return opt.Rootfs
	}
	if l.boot.sys == nil {
		return RootfsInitrd
	}
	if _, err := exec.LookPath(output.SquashfsTool); err != nil {
		fmt.Fprintf(opt.warn(), "warning: %s not found, so the root is unpacked into RAM from the initrd (slower to boot, needs more memory): install squashfs-tools, or pass --rootfs initrd to choose this\n", output.SquashfsTool)
		return RootfsInitrd
	}
	return RootfsSquashfs
}

// RootfsKinds lists the accepted --rootfs values.
var RootfsKinds = []string{RootfsInitrd, RootfsSquashfs}

// rootModules are the modules init needs to mount a squashfs root: on
// Debian's cloud kernel brd, loop, squashfs and overlay are all modules
// (=m). init copies the images to brd's RAM disks, and uses loop devices
// only where that fails (a kernel image without brd leaves it out).
var rootModules = []string{"brd", "loop", "squashfs", "overlay"}

// modulesPrefix is where kernel.tar keeps each version's modules.
const modulesPrefix = "lib/modules/"

// bootPart is the initramfs of a squashfs root: /init and the kernel
// modules it loads to mount the image (with the module index), nothing
// else. kind tells the squashfs root's ("squashfs boot") from a disk
// root's (diskBootPart) in the cache key.
func bootPart(kind string, mods []string, kf kernelFiles, kd v1.Hash, initLayers []rootfs.Layer, initInputs []string) part {
	choice := moduleChoice{base: mods}
	modules := rootfs.Layer{
		What: "root modules of the kernel image",
		Open: func() (io.ReadCloser, error) { return chosenModules(kf, choice) },
	}
	p := part{
		What:    "boot files",
		inputs:  append([]string{kind, choice.key(), kd.String(), kf.tar}, initInputs...),
		sys:     &rootfs.System{Dirs: rootfs.BaseDirs(), Layers: []rootfs.Layer{modules}},
		archive: true,
	}
	for _, l := range initLayers {
		open := l.Open
		p.sys.Layers = append(p.sys.Layers, rootfs.Layer{
			What: l.What + " (/init only)",
			Open: func() (io.ReadCloser, error) {
				rc, err := open()
				if err != nil {
					return nil, err
				}
				return filterTar(rc, func(name string) bool { return name == strings.TrimPrefix(klayout.Init, "/") }), nil
			},
		})
	}
	return p
}

// withoutInit is the init images' part as a squashfs root carries it:
// without /init, which the boot part holds and init binds into the new
// root (1.2 MB less in every initrd). A layer that hard-links another name
// to /init keeps it, as the link would dangle.
func withoutInit(p part) part {
	initName := strings.TrimPrefix(klayout.Init, "/")
	sys := *p.sys
	sys.Layers = nil
	for _, l := range p.sys.Layers {
		open := l.Open
		sys.Layers = append(sys.Layers, rootfs.Layer{What: l.What, Open: func() (io.ReadCloser, error) {
			linked, err := hardLinksTo(open, initName)
			if err != nil {
				return nil, err
			}
			rc, err := open()
			if err != nil || linked {
				return rc, err
			}
			return filterTar(rc, func(name string) bool { return name != initName }), nil
		}})
	}
	p.sys = &sys
	p.inputs = append(slices.Clone(p.inputs), "without "+klayout.Init)
	return p
}

// hardLinksTo says whether the tar stream open returns has a hard link
// to name.
func hardLinksTo(open func() (io.ReadCloser, error), name string) (bool, error) {
	rc, err := open()
	if err != nil {
		return false, err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if h.Typeflag == tar.TypeLink && strings.TrimPrefix(path.Clean("/"+h.Linkname), "/") == name {
			return true, nil
		}
	}
}

// filterTar streams the entries of src whose clean name keep accepts.
func filterTar(src io.ReadCloser, keep func(name string) bool) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		defer src.Close()
		tr := tar.NewReader(src)
		tw := tar.NewWriter(pw)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				pw.CloseWithError(tw.Close())
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if !keep(strings.TrimPrefix(path.Clean("/"+h.Name), "/")) {
				continue
			}
			if err := tw.WriteHeader(h); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, tr); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}

// squashfsFormat is in the cache key of every part's squashfs image:
// change it whenever the image written for the same inputs changes.
const squashfsFormat = "keel squashfs part 8" // 4: zstd 19 in 256 KiB blocks for the archive parts; 5: zstd 15 for archives over 128 MiB; 6: 32 KiB blocks for small parts; 8: 128 KiB blocks for the init images, zstd 15 for small parts

// maxRootParts bounds the parts of a squashfs root: each is a lower layer
// of one overlay mount, whose options (one path per layer) must fit in a
// page, and overlayfs stacks at most 500 layers.
const maxRootParts = 200

// squashfsImages encodes parts as squashfs images, each holding the base
// directories (so a directory a part only implies keeps its mode in the
// overlay, where the topmost layer's directory wins) and the part's own
// entries. scratch holds mksquashfs's input spool.
func squashfsImages(ctx context.Context, scratch string) encoding {
	return encoding{format: squashfsFormat, write: func(final string, p part, c output.Compression, count func(int64)) (int64, error) {
		sq, err := output.NewSquashfs(scratch)
		if err != nil {
			return 0, err
		}
		defer sq.Close()
		sq.Archive, sq.Programs = p.archive, p.programs
		sys := *p.sys
		sys.Known = nil
		sys.Dirs = append(rootfs.BaseDirs(), sys.Dirs...)
		if err := rootfs.Write(&sys, sq); err != nil {
			return 0, err
		}
		tmp, err := os.CreateTemp(scratch, "part-*.squashfs")
		if err != nil {
			return 0, fmt.Errorf("creating scratch file: %w", err)
		}
		tmp.Close()
		// mksquashfs refuses to overwrite without -noappend, which it has;
		// it writes a new file at the path.
		defer os.Remove(tmp.Name())
		if err := sq.Write(ctx, tmp.Name(), c); err != nil {
			return 0, err
		}
		src, err := os.Open(tmp.Name())
		if err != nil {
			return 0, err
		}
		defer src.Close()
		var size int64
		err = atomicfile.Write(final, 0o600, func(w io.Writer) error {
			n, err := io.Copy(w, src)
			size = n
			count(n)
			return err
		})
		return size, err
	}}
}

// squashfsInitrd makes the initrd of a squashfs root: one squashfs image
// per part, cached like the segments of a plain initrd (a rebuild that
// changes one service makes one small image), carried as files of an
// uncompressed cpio archive (the kernel ignores an uncompressed archive
// after a compressed one, so it comes first), then the cached boot files
// segment. init mounts every image and stacks them, in order, under one
// overlay.
func squashfsInitrd(ctx context.Context, l *layout, segDir string, comp output.Compression, rep progress.Reporter) (*initrdFiles, error) {
	if l.boot.sys == nil {
		return nil, errors.New("--rootfs squashfs needs the spec's init images (they hold /init, which mounts the image): add an init section")
	}
	if len(l.parts) > maxRootParts {
		return nil, fmt.Errorf("a squashfs root stacks one layer per container, and this system has %d parts (at most %d): use --rootfs initrd", len(l.parts), maxRootParts)
	}
	work, err := os.MkdirTemp("", "keel-squashfs-")
	if err != nil {
		return nil, fmt.Errorf("creating scratch directory: %w", err)
	}
	l.scratch = append(l.scratch, work)
	enc := squashfsImages(ctx, work)
	parts := l.parts
	if l.initAt >= 0 {
		parts = slices.Clone(l.parts)
		parts[l.initAt] = withoutInit(parts[l.initAt])
	}
	images, report, err := segments(segDir, parts, enc, comp, rep)
	if err != nil {
		return nil, fmt.Errorf("writing the squashfs root: %w", err)
	}
	// The uncached parts (the files section) are small: build them now.
	for i, p := range parts {
		if images[i] != "" {
			continue
		}
		images[i] = filepath.Join(work, fmt.Sprintf("uncached-%d.squashfs", i))
		if report[i].Size, err = enc.write(images[i], p, comp, func(int64) {}); err != nil {
			return nil, fmt.Errorf("writing the squashfs root: %s: %w", p.What, err)
		}
	}
	rootSeg := filepath.Join(work, "root.cpio")
	size, err := imagesSegment(rootSeg, images)
	if err != nil {
		return nil, fmt.Errorf("writing the squashfs root: %w", err)
	}
	for i := range report {
		report[i].What += " (squashfs)"
		size -= report[i].Size
	}
	report = append(report, Segment{What: "squashfs archive headers", Size: size})
	paths, boot, err := segments(segDir, []part{l.boot}, cpioSegments, comp, rep)
	if err != nil {
		return nil, fmt.Errorf("writing initrd: %w", err)
	}
	return &initrdFiles{
		paths:  []string{rootSeg, paths[0]},
		report: append(report, boot...),
	}, nil
}

// RootPartName is the name of the i-th image of a squashfs root under
// klayout.RootParts: zero-padded, so that names sort in stacking order.
func RootPartName(i int) string { return fmt.Sprintf("%03d.squashfs", i) }

// imagesSegment writes an uncompressed cpio archive holding the images, in
// order, under klayout.RootParts, and returns its size.
func imagesSegment(dst string, images []string) (int64, error) {
	f, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	cw, err := output.NewCPIOCompressed(f, output.None)
	if err != nil {
		return 0, err
	}
	dir := strings.TrimPrefix(klayout.RootParts, "/")
	if err := cw.WriteEntry(&tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o700}, nil); err != nil {
		return 0, err
	}
	for i, img := range images {
		if err := copyImage(cw, path.Join(dir, RootPartName(i)), img); err != nil {
			return 0, err
		}
	}
	if err := cw.Close(); err != nil {
		return 0, err
	}
	end, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return 0, err
	}
	return end, f.Close()
}

// copyImage adds the file img to cw as name.
func copyImage(cw *output.CPIO, name, img string) error {
	src, err := os.Open(img)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	h := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o400, Size: st.Size()}
	return cw.WriteEntry(h, src)
}
