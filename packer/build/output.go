package build

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/keel-os/keel/packer/output"
	"github.com/keel-os/keel/packer/progress"
	"github.com/keel-os/keel/packer/rootfs"
)

// The output formats, named as LinuxKit names them.
const (
	FormatKernelInitrd    = "kernel+initrd"
	FormatTarKernelInitrd = "tar-kernel-initrd"
	FormatTar             = "tar"
	// FormatDocker is the tar with a Dockerfile: a Docker build context.
	FormatDocker = "docker"
)

// Formats lists the supported output formats: LinuxKit's kernel and tar
// ones, then the images made from kernel+initrd (output.ImageFormats).
var Formats = append([]string{FormatKernelInitrd, FormatTarKernelInitrd, FormatTar, FormatDocker, FormatKernelSquashfs, FormatKernelISO, FormatKernelErofs}, output.ImageFormats...)

// singleFile says whether a format is one file, which `-o` can name
// (or send to standard output with `-o -`).
func singleFile(format string) bool { return format != FormatKernelInitrd && !diskRoot(format) }

// outputs collects temporary files and renames them into place together
// once every one is complete, so a failed build never leaves a partial
// artifact behind. Not internal/atomicfile: it places one file at a time,
// and fsyncs what an artifact, which a rebuild makes again, need not pay for.
type outputs struct {
	temps  []*os.File
	finals []string
	// rep hears of each file once it is in place.
	rep progress.Reporter
}

func (o *outputs) create(final string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(final), "."+filepath.Base(final)+".*")
	if err != nil {
		return nil, fmt.Errorf("creating output: %w", err)
	}
	o.temps = append(o.temps, f)
	o.finals = append(o.finals, final)
	return f, nil
}

func (o *outputs) abort() {
	for _, f := range o.temps {
		f.Close()
		os.Remove(f.Name())
	}
}

func (o *outputs) commit() error {
	for _, f := range o.temps {
		if err := f.Chmod(0o644); err != nil {
			o.abort()
			return err
		}
		if err := f.Close(); err != nil {
			o.abort()
			return err
		}
	}
	for i, f := range o.temps {
		if err := os.Rename(f.Name(), o.finals[i]); err != nil {
			o.abort()
			return fmt.Errorf("placing %s: %w", o.finals[i], err)
		}
	}
	for _, f := range o.finals {
		reportFile(o.rep, f)
	}
	return nil
}

// reportFile tells rep that file is written, with its size.
func reportFile(rep progress.Reporter, file string) {
	size := int64(-1)
	if st, err := os.Stat(file); err == nil {
		size = st.Size()
	}
	progress.Or(rep).Step(progress.Step{Kind: progress.Wrote, Name: file, Size: size})
}

// write produces opt.Format's artifacts from l.
func write(ctx context.Context, opt Options, l *layout) (*Result, error) {
	res := &Result{}
	comp, err := output.ParseCompression(opt.Compress)
	if err != nil {
		return nil, err
	}
	if opt.Format == FormatTar || opt.Format == FormatDocker {
		// No initrd: the parts are streamed as one tar.
		docker := opt.Format == FormatDocker
		suffix := ".tar"
		if docker {
			suffix = ".docker"
		}
		err := single(opt, suffix, res, func(w io.Writer) error { return writeTar(w, l, docker) })
		return res, err
	}
	segDir := opt.SegmentDir
	if segDir == "" {
		segDir = opt.Cache.SegmentDir()
	}
	if diskRoot(opt.Format) {
		return writeDiskRoot(ctx, opt, l, comp, segDir)
	}
	var files *initrdFiles
	if rootfsKind(opt, l) == RootfsSquashfs {
		files, err = squashfsInitrd(ctx, l, segDir, comp, opt.Progress)
	} else {
		files, err = systemInitrd(l, segDir, comp, opt.Progress)
	}
	if err != nil {
		return nil, err
	}
	res.Segments = files.report
	initrd := files.write
	var initrdSize int64
	for _, s := range res.Segments {
		initrdSize += s.Size
	}
	ucode := l.ucode
	// The microcode goes first and uncompressed: the kernel looks for it
	// nowhere else.
	bootInitrd := initrd
	if ucode != nil {
		res.Segments = append([]Segment{{What: "microcode " + l.kernel.ucode, Size: int64(len(ucode))}}, res.Segments...)
		bootInitrd = func(w io.Writer) error {
			if _, err := w.Write(ucode); err != nil {
				return fmt.Errorf("writing initrd: %w", err)
			}
			return initrd(w)
		}
	}
	kernel, err := l.kernel.kernel()
	if err != nil {
		return nil, err
	}
	defer kernel.Close()

	if opt.Format == FormatTarKernelInitrd {
		err := single(opt, "-initrd.tar", res, func(w io.Writer) error {
			tw := tar.NewWriter(w)
			file := func(name string, size int64, body func(io.Writer) error) error {
				h := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: epoch, Format: tar.FormatPAX}
				if err := tw.WriteHeader(h); err != nil {
					return err
				}
				return body(tw)
			}
			if err := file("kernel", kernel.size, func(w io.Writer) error { _, err := io.Copy(w, kernel); return err }); err != nil {
				return fmt.Errorf("writing kernel: %w", err)
			}
			if err := file("initrd.img", initrdSize, initrd); err != nil {
				return fmt.Errorf("writing initrd: %w", err)
			}
			if err := file("cmdline", int64(len(l.cmdline)), func(w io.Writer) error { _, err := io.WriteString(w, l.cmdline); return err }); err != nil {
				return err
			}
			if ucode != nil {
				// LinuxKit's layout: the microcode beside initrd.img, for
				// loaders that take several initrds.
				if err := file("ucode.cpio", int64(len(ucode)), func(w io.Writer) error { _, err := w.Write(ucode); return err }); err != nil {
					return err
				}
			}
			return tw.Close()
		})
		return res, err
	}

	if suffix, ok := output.ImageSuffixes[opt.Format]; ok {
		return res, writeImage(ctx, opt, suffix, res, l.cmdline, kernel, bootInitrd)
	}

	o := &outputs{rep: opt.Progress}
	res.Kernel = filepath.Join(opt.Dir, opt.Name+"-kernel")
	res.Initrd = filepath.Join(opt.Dir, opt.Name+"-initrd.img")
	res.Cmdline = filepath.Join(opt.Dir, opt.Name+"-cmdline")
	steps := []struct {
		final string
		body  func(io.Writer) error
	}{
		{res.Kernel, func(w io.Writer) error { _, err := io.Copy(w, kernel); return err }},
		{res.Initrd, bootInitrd},
		{res.Cmdline, func(w io.Writer) error { _, err := io.WriteString(w, l.cmdline); return err }},
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

// initrdFiles are the pieces of an initrd, in order: a path per cached
// segment, or for an uncached part ("" path) its bytes in tails.
type initrdFiles struct {
	paths  []string
	tails  map[int][]byte
	report []Segment
}

// systemInitrd makes the initrd that holds the whole system, one segment
// per part.
func systemInitrd(l *layout, segDir string, comp output.Compression, rep progress.Reporter) (*initrdFiles, error) {
	paths, report, err := segments(segDir, l.parts, cpioSegments, comp, rep)
	if err != nil {
		return nil, fmt.Errorf("writing initrd: %w", err)
	}
	// The uncached parts (the files section) are small: build them now.
	tails := map[int][]byte{}
	for i, p := range l.parts {
		if paths[i] != "" {
			continue
		}
		var buf bytes.Buffer
		if err := encodePart(&buf, p, comp); err != nil {
			return nil, fmt.Errorf("writing initrd: %s: %w", p.What, err)
		}
		tails[i] = buf.Bytes()
		report[i].Size = int64(buf.Len())
	}
	return &initrdFiles{paths: paths, tails: tails, report: report}, nil
}

// write sends the initrd to w.
func (f *initrdFiles) write(w io.Writer) error {
	for i, p := range f.paths {
		if p == "" {
			if _, err := w.Write(f.tails[i]); err != nil {
				return err
			}
			continue
		}
		seg, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("reading segment of %s: %w", f.report[i].What, err)
		}
		_, err = io.Copy(w, seg)
		seg.Close()
		if err != nil {
			return fmt.Errorf("writing initrd: %w", err)
		}
	}
	return nil
}

// single writes a one-file format to opt.Output ("-" is standard output)
// or Dir/Name+suffix.
func single(opt Options, suffix string, res *Result, body func(io.Writer) error) error {
	if opt.Output == "-" {
		out := opt.Stdout
		if out == nil {
			out = os.Stdout
		}
		res.Output = "-"
		var n int64
		err := body(&countingWriter{w: out, count: func(k int64) { n += k }})
		if err == nil {
			progress.Or(opt.Progress).Step(progress.Step{Kind: progress.Wrote, Name: "standard output", Size: n})
		}
		return err
	}
	final := opt.Output
	if final == "" {
		final = filepath.Join(opt.Dir, opt.Name+suffix)
	}
	o := &outputs{rep: opt.Progress}
	f, err := o.create(final)
	if err != nil {
		return err
	}
	if err := body(f); err != nil {
		o.abort()
		return err
	}
	res.Output = final
	return o.commit()
}

// writeTar streams the whole root filesystem as a tar, with the kernel and
// command line in /boot as LinuxKit's tar output has them; with docker set,
// ending with a Dockerfile that makes it a Docker build context.
func writeTar(w io.Writer, l *layout, docker bool) error {
	kernel, err := l.kernel.kernel()
	if err != nil {
		return err
	}
	defer kernel.Close()
	kdata, err := io.ReadAll(kernel)
	if err != nil {
		return fmt.Errorf("reading kernel: %w", err)
	}
	boot := &rootfs.System{Files: []rootfs.Entry{
		{Hdr: tar.Header{Name: "boot", Typeflag: tar.TypeDir, Mode: 0o755}},
		{Hdr: tar.Header{Name: "boot/kernel", Typeflag: tar.TypeReg, Mode: 0o644}, Body: kdata},
		{Hdr: tar.Header{Name: "boot/cmdline", Typeflag: tar.TypeReg, Mode: 0o644}, Body: []byte(l.cmdline)},
	}}
	if l.ucode != nil {
		boot.Files = append(boot.Files, rootfs.Entry{Hdr: tar.Header{Name: "boot/ucode.cpio", Typeflag: tar.TypeReg, Mode: 0o644}, Body: l.ucode})
	}
	systems := []*rootfs.System{}
	for _, p := range l.parts {
		systems = append(systems, p.sys)
	}
	systems = append(systems, boot)
	tw := output.NewTar(w)
	if err := rootfs.WriteAll(tw, systems...); err != nil {
		return err
	}
	if docker {
		if err := tw.AddDockerContext(); err != nil {
			return err
		}
	}
	return tw.Close()
}

// writeImage writes an image format: the kernel and initrd go to a
// scratch directory next to the output, the image is made from them there
// and then placed like any one-file format.
func writeImage(ctx context.Context, opt Options, suffix string, res *Result, cmdline string, kernel io.Reader, initrd func(io.Writer) error) error {
	scratch := opt.Dir
	if opt.Output == "-" {
		scratch = ""
	} else if opt.Output != "" {
		scratch = filepath.Dir(opt.Output)
	}
	if scratch != "" {
		if err := os.MkdirAll(scratch, 0o755); err != nil {
			return fmt.Errorf("creating output directory: %w", err)
		}
	}
	work, err := os.MkdirTemp(scratch, ".keel-"+opt.Format+"-")
	if err != nil {
		return fmt.Errorf("creating scratch directory: %w", err)
	}
	defer os.RemoveAll(work)
	b := output.Boot{Kernel: filepath.Join(work, "kernel"), Initrd: filepath.Join(work, "initrd.img"), Cmdline: cmdline, Signer: opt.Signer}
	if output.Signable(opt.Format) {
		if b.Stub, err = efiStub(ctx, opt); err != nil {
			return err
		}
	}
	for _, s := range []struct {
		path string
		body func(io.Writer) error
	}{
		{b.Kernel, func(w io.Writer) error { _, err := io.Copy(w, kernel); return err }},
		{b.Initrd, initrd},
	} {
		f, err := os.Create(s.path)
		if err != nil {
			return err
		}
		err = s.body(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("writing %s: %w", s.path, err)
		}
	}
	final := opt.Output
	if final == "" || final == "-" {
		final = filepath.Join(opt.Dir, opt.Name+suffix)
	}
	// The image gets its final name (a VMDK's descriptor records it) in a
	// folder of its own, apart from the kernel, initrd and intermediates.
	if err := os.Mkdir(filepath.Join(work, "out"), 0o755); err != nil {
		return err
	}
	img := filepath.Join(work, "out", filepath.Base(final))
	if err := output.WriteImage(ctx, opt.Format, img, work, b, opt.Size); err != nil {
		return fmt.Errorf("writing %s image: %w", opt.Format, err)
	}
	if opt.Output != "-" {
		// Renamed, not copied: a large sparse disk stays sparse.
		if err := os.Chmod(img, 0o644); err != nil {
			return err
		}
		if err := os.Rename(img, final); err != nil {
			return fmt.Errorf("placing %s: %w", final, err)
		}
		reportFile(opt.Progress, final)
		res.Output = final
		return nil
	}
	return single(opt, suffix, res, func(w io.Writer) error {
		f, err := os.Open(img)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
}

// archFormats are the formats an architecture other than amd64 can be
// built in: the BIOS formats carry x86 boot loaders, the EFI ones are made
// with the architecture's systemd stub.
var archFormats = map[string][]string{
	"arm64": {FormatKernelInitrd, FormatTarKernelInitrd, FormatTar, output.FormatISOEFI, output.FormatRawEFI, output.FormatQCOW2EFI, output.FormatUKI},
}

// checkFormatArch refuses formats that cannot boot on arch.
func checkFormatArch(format, arch string) error {
	allowed, ok := archFormats[arch]
	if !ok || slices.Contains(allowed, format) {
		return nil
	}
	return fmt.Errorf("output format %s cannot be built for %s yet: use one of %s", format, arch, strings.Join(allowed, ", "))
}
