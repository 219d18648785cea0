package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	klayout "github.com/keel-os/keel/internal/layout"
	"github.com/keel-os/keel/packer/output"
	"github.com/keel-os/keel/packer/progress"
	"github.com/keel-os/keel/packer/rootfs"
)

// The kinds of root filesystem (`keel build --rootfs`).
const (
	// RootfsInitrd unpacks the whole system from the initrd into RAM.
	RootfsInitrd = "initrd"
	// RootfsSquashfs puts the system into one squashfs image that travels
	// in the initrd as a single file; init mounts it read-only under a
	// tmpfs overlay, so RAM holds it compressed instead of unpacked.
	RootfsSquashfs = "squashfs"
)

// RootfsKinds lists the accepted --rootfs values.
var RootfsKinds = []string{RootfsInitrd, RootfsSquashfs}

// rootModules are the modules init needs to mount a squashfs root: on
// Debian's cloud kernel loop, squashfs and overlay are all modules (=m).
var rootModules = []string{"loop", "squashfs", "overlay"}

// modulesPrefix is where kernel.tar keeps each version's modules.
const modulesPrefix = "lib/modules/"

// bootPart is the initramfs of a squashfs root: /init and the kernel
// modules it loads to mount the image (with the module index), nothing
// else.
func bootPart(kf kernelFiles, kd v1.Hash, initLayers []rootfs.Layer, initInputs []string) part {
	modules := rootfs.Layer{
		What: "root modules of the kernel image",
		Open: func() (io.ReadCloser, error) { return chosenModules(kf, moduleChoice{base: rootModules}) },
	}
	p := part{
		What:   "boot files",
		inputs: append([]string{"squashfs boot", moduleChoice{base: rootModules}.key(), kd.String(), kf.tar}, initInputs...),
		sys:    &rootfs.System{Dirs: rootfs.BaseDirs(), Layers: []rootfs.Layer{modules}},
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

// squashfsInitrd writes the whole system as a squashfs image and returns
// the initrd that carries it: an uncompressed cpio holding the image as
// one file (the kernel ignores an uncompressed archive after a compressed
// one, so it comes first), then the cached boot files segment.
func squashfsInitrd(ctx context.Context, l *layout, segDir string, comp output.Compression, rep progress.Reporter) (*initrdFiles, error) {
	if l.boot.sys == nil {
		return nil, errors.New("--rootfs squashfs needs the spec's init images (they hold /init, which mounts the image): add an init section")
	}
	work, err := os.MkdirTemp("", "keel-squashfs-")
	if err != nil {
		return nil, fmt.Errorf("creating scratch directory: %w", err)
	}
	l.scratch = append(l.scratch, work)
	sq, err := output.NewSquashfs(work)
	if err != nil {
		return nil, err
	}
	defer sq.Close()
	var systems []*rootfs.System
	for _, p := range l.parts {
		systems = append(systems, p.sys)
	}
	if err := rootfs.WriteAll(sq, systems...); err != nil {
		return nil, fmt.Errorf("writing the squashfs root: %w", err)
	}
	img := filepath.Join(work, "root.squashfs")
	if err := sq.Write(ctx, img, comp); err != nil {
		return nil, fmt.Errorf("writing the squashfs root: %w", err)
	}
	rootSeg := filepath.Join(work, "root.cpio")
	size, err := imageSegment(rootSeg, img)
	if err != nil {
		return nil, err
	}
	paths, report, err := segments(segDir, []part{l.boot}, comp, rep)
	if err != nil {
		return nil, fmt.Errorf("writing initrd: %w", err)
	}
	return &initrdFiles{
		paths:  []string{rootSeg, paths[0]},
		report: append([]Segment{{What: "root filesystem (squashfs)", Size: size}}, report...),
	}, nil
}

// imageSegment writes an uncompressed cpio archive holding the image at
// klayout.RootImage and returns its size.
func imageSegment(dst, img string) (int64, error) {
	src, err := os.Open(img)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return 0, err
	}
	f, err := os.Create(dst)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	cw, err := output.NewCPIOCompressed(f, output.None)
	if err != nil {
		return 0, err
	}
	h := &tar.Header{Name: strings.TrimPrefix(klayout.RootImage, "/"), Typeflag: tar.TypeReg, Mode: 0o400, Size: st.Size()}
	if err := cw.WriteEntry(h, src); err != nil {
		return 0, err
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
