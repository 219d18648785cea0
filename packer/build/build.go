// Package build runs the packer's stages in order for `keel build`: parse the
// spec files, resolve every image (building `@pkg:` packages on demand), make
// one bundle per container, lay the system out as one entry stream and hand
// it to the output writer. Each stage only consumes what the previous one
// produced.
package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	kbundle "github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/packer/bundle"
	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/output"
	"github.com/keel-os/keel/packer/pkgbuild"
	"github.com/keel-os/keel/packer/progress"
	"github.com/keel-os/keel/packer/rootfs"
	"github.com/keel-os/keel/packer/spec"
	"github.com/keel-os/keel/packer/uki"
)

// Options says what to build and where.
type Options struct {
	// Files are the spec files, merged in order; "-" reads standard input.
	Files []string
	// Format is the output format (Formats); empty means kernel+initrd.
	Format string
	// Output names the file of a one-file format (tar, tar-kernel-initrd)
	// instead of Dir/Name+suffix; "-" writes it to Stdout.
	Output string
	// Size is the disk size of a disk image format in bytes (0: just
	// large enough for the system).
	Size int64
	// Stdout receives `-o -` output; nil means os.Stdout.
	Stdout io.Writer
	// Signer signs the UKI of an EFI format for Secure Boot (nil: unsigned).
	Signer *uki.Signer
	// Compress is the initrd's compression (output.ParseCompression);
	// empty means output.Default (zstd). A squashfs root uses the same algorithm (none
	// becomes gzip).
	Compress string
	// Rootfs is the kind of root filesystem (RootfsKinds); empty means
	// the default: a squashfs root where the image has an initrd and init
	// images (init mounts it) and mksquashfs is installed, else initrd.
	Rootfs string
	// Dir and Name place the outputs: Dir/Name-kernel and so on.
	Dir, Name string
	Cache     *image.Cache
	// SegmentDir holds the cached initrd segments; empty means
	// Cache.SegmentDir().
	SegmentDir string
	// DebCache is where Debian packages needed by @pkg: builds are kept;
	// empty means Cache.DebDir().
	DebCache string
	Log      io.Writer
	// Warn receives warnings: the spec's, and one line per container that
	// loosens the default confinement (bundle.Risks). They are meant to
	// be seen even when Log is silenced (-q); nil means Log.
	Warn io.Writer
	// Strict makes a container that loosens the default confinement an
	// error instead of a warning (`keel build --strict`).
	Strict bool
	// Stdin replaces os.Stdin for "-" (tests).
	Stdin io.Reader
	// Pull is the pull policy for registry images: image.PullMissing
	// (default), image.PullAlways or image.PullNever.
	Pull string
	// Puller fetches images; nil means a Puller on Cache with the Docker
	// config's credentials.
	Puller *image.Puller
	// Progress receives pulls, segment builds and written files as they
	// happen; nil reports nothing.
	Progress progress.Reporter
	// TagsOnly makes Load resolve `@pkg:` references to their tags without
	// building the packages (`keel build --dry-run`).
	TagsOnly bool
	// Arch is the architecture of the system (image.Architectures): every
	// image resolves to its variant for it, `@pkg:` packages are built for
	// it. Empty means amd64.
	Arch string
	// NoSBOM leaves the system's SBOM out (`--no-sbom`).
	NoSBOM bool
	// SBOMOutput is the SBOM's path in the image (`--sbom-output`);
	// empty means DefaultSBOMOutput.
	SBOMOutput string
	// SBOMCopy, when set, is a file on the host that also receives the
	// SBOM (`--sbom-copy`).
	SBOMCopy string
	// SBOMCurrentTime dates the SBOM now instead of at a fixed time,
	// which makes the image differ from build to build
	// (`--sbom-current-time`).
	SBOMCurrentTime bool
}

// Result lists the files written.
type Result struct {
	// Kernel, Initrd and Cmdline are set for kernel+initrd and the
	// formats with a root on a disk (kernel+squashfs, kernel+iso).
	Kernel, Initrd, Cmdline string
	// Root is the root file system image of kernel+squashfs and
	// kernel+iso.
	Root string
	// Output is the file of a one-file format ("-" for standard output).
	Output string
	// Segments describes the initrd's segments, in order.
	Segments []Segment
}

// Load parses and merges the spec files, resolving `@pkg:` references
// relative to the file that names them (building the package if it is not in
// the cache yet).
func Load(ctx context.Context, opt Options) (*spec.Spec, error) {
	s, _, err := load(ctx, opt)
	return s, err
}

// load is Load that also returns the references made from `@pkg:`
// packages: they exist only in the cache, so they are never pulled.
func load(ctx context.Context, opt Options) (*spec.Spec, map[string]bool, error) {
	// Checked here, where Load (--dry-run) and Run meet, so that a wrong
	// --pull fails before any spec is read either way.
	if opt.Pull != "" {
		if err := image.CheckPullPolicy(opt.Pull); err != nil {
			return nil, nil, err
		}
	}
	local := map[string]bool{}
	var all []*spec.Spec
	for _, f := range opt.Files {
		data, err := readSpec(ctx, f, opt.Stdin)
		if err != nil {
			return nil, nil, fmt.Errorf("reading spec: %w", err)
		}
		s, err := spec.Parse(f, data)
		if err != nil {
			return nil, nil, err
		}
		if IsURL(f) {
			if err := checkRemote(f, s); err != nil {
				return nil, nil, err
			}
		}
		err = s.MapImages(func(ref string) (string, error) {
			// spec.Parse has already made the path relative to the spec file.
			p, ok := strings.CutPrefix(ref, spec.PkgPrefix)
			if !ok {
				return ref, nil
			}
			if opt.TagsOnly {
				r, err := pkgbuild.RefFor(ctx, p, opt.Arch)
				if err != nil {
					return "", fmt.Errorf("%s: %s: %w", f, ref, err)
				}
				return r, nil
			}
			r, err := pkgbuild.Build(ctx, p, pkgbuild.Options{Cache: opt.Cache, DebCache: opt.DebCache, Stdout: opt.Log, Arch: opt.Arch})
			if err != nil {
				return "", fmt.Errorf("%s: building %s: %w", f, ref, err)
			}
			local[r] = true
			return r, nil
		})
		if err != nil {
			return nil, nil, err
		}
		all = append(all, s)
	}
	merged := spec.Merge(all...)
	if err := merged.Validate(); err != nil {
		return nil, nil, err
	}
	merged.ResolveVolumes()
	for _, w := range merged.Warnings {
		fmt.Fprintf(opt.warn(), "warning: %s\n", w)
	}
	return merged, local, nil
}

// Run builds the system described by opt.Files.
func Run(ctx context.Context, opt Options) (*Result, error) {
	if opt.Format == "" {
		opt.Format = FormatKernelInitrd
	}
	if !slices.Contains(Formats, opt.Format) {
		return nil, fmt.Errorf("output format %q is not supported: use one of %s", opt.Format, strings.Join(Formats, ", "))
	}
	if opt.Output != "" && !singleFile(opt.Format) {
		return nil, fmt.Errorf("-o names one output file, but format %s writes several: use -dir and -name", opt.Format)
	}
	if _, err := output.ParseCompression(opt.Compress); err != nil {
		return nil, err
	}
	if opt.Signer != nil && !output.Signable(opt.Format) {
		return nil, fmt.Errorf("Secure Boot signing applies to a UKI, but format %s has none: use uki, iso-efi, raw-efi or qcow2-efi, or drop --sign-key", opt.Format)
	}
	if opt.Rootfs != "" && !slices.Contains(RootfsKinds, opt.Rootfs) {
		return nil, fmt.Errorf("root filesystem %q is not supported: use one of %s", opt.Rootfs, strings.Join(RootfsKinds, ", "))
	}
	if opt.Rootfs == RootfsSquashfs && (opt.Format == FormatTar || opt.Format == FormatDocker) {
		return nil, fmt.Errorf("--rootfs squashfs shapes the initrd, and format %s has none: drop --rootfs or pick a format with an initrd", opt.Format)
	}
	if opt.Size != 0 && !output.SizedFormat(opt.Format) {
		return nil, fmt.Errorf("--size sets the size of a disk image, but format %s is not a disk: drop --size or use raw-bios, raw-efi, qcow2-bios, qcow2-efi, vhd, dynamic-vhd, vmdk, gcp or aws", opt.Format)
	}
	if opt.Log == nil {
		opt.Log = io.Discard
	}
	if opt.Pull == "" {
		opt.Pull = image.PullMissing
	}
	opt.Progress = progress.Or(opt.Progress)
	if opt.Arch == "" {
		opt.Arch = image.Architecture
	}
	if err := image.CheckArch(opt.Arch); err != nil {
		return nil, err
	}
	if err := checkFormatArch(opt.Format, opt.Arch); err != nil {
		return nil, err
	}
	s, local, err := load(ctx, opt)
	if err != nil {
		return nil, err
	}
	p := opt.Puller
	if p == nil {
		p = &image.Puller{Cache: opt.Cache, Progress: opt.Progress}
	}
	pa := *p
	pa.Arch = opt.Arch
	p = &pa
	var remote []string
	for _, r := range s.ImageRefs() {
		if !local[r] {
			remote = append(remote, r)
		}
	}
	if err := p.Ensure(ctx, remote, opt.Pull); err != nil {
		return nil, err
	}
	l, err := plan(s, archCache{opt.Cache, opt.Arch})
	if err != nil {
		return nil, err
	}
	defer l.close()
	if err := opt.confinement(l.risky); err != nil {
		return nil, err
	}
	if err := addSBOM(opt, s, archCache{opt.Cache, opt.Arch}, l); err != nil {
		return nil, err
	}
	return write(ctx, opt, l)
}

// archCache reads the images of one architecture from the cache.
type archCache struct {
	c    *image.Cache
	arch string
}

func (a archCache) Get(ref string) (v1.Image, error) { return a.c.GetArch(ref, a.arch) }

// layout is the system to write: its parts in order, the kernel image
// and the command line.
type layout struct {
	parts []part
	// boot is the initramfs of a squashfs root (no sys without init
	// images).
	boot part
	// diskBoot is the initramfs of a root on a disk (kernel+squashfs,
	// kernel+iso): as boot, with the disk drivers and a marker.
	diskBoot part
	// initAt is the index in parts of the init images' part, -1 for none.
	initAt int
	kernel kernelFiles
	// ucode is the early microcode archive, nil for none.
	ucode   []byte
	cmdline string
	fl      *flattener
	// scratch are temporary directories removed on close.
	scratch []string
	// risky are the containers that loosen the default confinement.
	risky []riskyContainer
}

func (l *layout) close() {
	l.fl.close()
	for _, d := range l.scratch {
		os.RemoveAll(d)
	}
}

// baseDirNames are the directories the first part creates, known to every
// later part.
func baseDirNames() []string {
	var out []string
	for _, e := range rootfs.BaseDirs() {
		out = append(out, e.Hdr.Name)
	}
	return out
}

// plan resolves every image of s from the cache and cuts the system into
// parts: the base directories with the kernel modules, the init images,
// one part per volume, one part per container, and the spec's files
// last. Each part's inputs name everything its bytes depend on.
func plan(s *spec.Spec, cache archCache) (*layout, error) {
	if s.Kernel.Image == "" {
		return nil, errors.New("the spec has no kernel image: add `kernel: {image: ...}`")
	}
	kimg, err := cache.Get(s.Kernel.Image)
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	kd, err := kimg.Digest()
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	kf := newKernelFiles(s.Kernel, kimg)
	// Read now, so that a missing microcode file fails the build before
	// any unpacking.
	ucode, err := kf.microcode()
	if err != nil {
		return nil, err
	}
	l := &layout{kernel: kf, ucode: ucode, cmdline: s.Kernel.Cmdline, fl: newFlattener(), initAt: -1}
	known := baseDirNames()
	mods := specModules(s)
	if err := kernelModuleDefault(&mods, s.Kernel.Modules, kimg, s.Kernel.Image); err != nil {
		return nil, err
	}
	l.parts = append(l.parts, part{
		What:    "kernel modules",
		archive: true,
		inputs:  []string{"modules", kd.String(), kf.tar, fmt.Sprint(kf.tarOptional), mods.key()},
		sys: &rootfs.System{Dirs: rootfs.BaseDirs(), Layers: []rootfs.Layer{{
			What: "kernel modules of " + s.Kernel.Image,
			Open: func() (io.ReadCloser, error) { return chosenModules(kf, mods) },
		}}},
	})
	if len(s.Init) > 0 {
		p := part{What: "init", inputs: []string{"init"}, sys: &rootfs.System{Known: known}, archive: true, programs: true}
		for _, ref := range s.Init {
			img, err := cache.Get(ref)
			if err != nil {
				return nil, fmt.Errorf("init: %w", err)
			}
			d, err := img.Digest()
			if err != nil {
				return nil, fmt.Errorf("init: %s: %w", ref, err)
			}
			l.fl.count(img)
			p.inputs = append(p.inputs, d.String())
			p.sys.Layers = append(p.sys.Layers, rootfs.Layer{What: "init image " + ref, Open: l.fl.opener(img)})
		}
		l.parts = append(l.parts, p)
		l.initAt = len(l.parts) - 1
		l.boot = bootPart("squashfs boot", rootModules, kf, kd, p.sys.Layers, p.inputs[1:])
		l.diskBoot = diskBootPart(kf, kd, p.sys.Layers, p.inputs[1:])
	}
	vparts, err := volumeParts(l.fl, cache, s, known)
	if err != nil {
		return nil, err
	}
	l.parts = append(l.parts, vparts...)
	phases := []struct {
		phase    kbundle.Phase
		dir      string
		imgs     []*spec.Image
		numbered bool
	}{
		{kbundle.PhaseOnboot, "containers/onboot", s.Onboot, true},
		{kbundle.PhaseOnshutdown, "containers/onshutdown", s.Onshutdown, true},
		{kbundle.PhaseService, "containers/services", s.Services, false},
	}
	ids := s.ContainerIDs()
	for _, ph := range phases {
		for i, e := range ph.imgs {
			dir := ph.dir + "/" + e.Name
			if ph.numbered {
				dir = fmt.Sprintf("%s/%03d-%s", ph.dir, i, e.Name)
			}
			p, risks, err := containerPart(l.fl, cache, e, ph.phase, dir, ids)
			if err != nil {
				return nil, err
			}
			if len(risks) > 0 {
				l.risky = append(l.risky, riskyContainer{ph.phase, e.Name, e.Image, risks})
			}
			p.sys.Known = known
			l.parts = append(l.parts, p)
		}
	}
	files, err := fileEntries(s)
	if err != nil {
		return nil, err
	}
	if len(files) > 0 {
		l.parts = append(l.parts, part{What: "files", sys: &rootfs.System{Files: files, Known: known}})
	}
	return l, nil
}

// containerPart makes the part of one container, and says how its entry
// and label loosen the default confinement.
func containerPart(fl *flattener, cache archCache, e *spec.Image, phase kbundle.Phase, dir string, ids map[string]uint32) (part, []bundle.Risk, error) {
	where := fmt.Sprintf("%s %q", phase, e.Name)
	img, err := cache.Get(e.Image)
	if err != nil {
		return part{}, nil, fmt.Errorf("%s: %w", where, err)
	}
	d, err := img.Digest()
	if err != nil {
		return part{}, nil, fmt.Errorf("%s: %w", where, err)
	}
	cfg, err := image.Config(img)
	if err != nil {
		return part{}, nil, fmt.Errorf("%s: reading image config: %w", where, err)
	}
	var label *spec.Image
	if raw, ok, err := image.Label(img, kbundle.LabelKey); err != nil {
		return part{}, nil, fmt.Errorf("%s: %w", where, err)
	} else if ok {
		if label, err = spec.ParseLabel(e.Image, []byte(raw)); err != nil {
			return part{}, nil, fmt.Errorf("%s: image label %s: %w", where, kbundle.LabelKey, err)
		}
	}
	imageIDs := func() (users, groups map[string]uint32, err error) {
		files, err := image.ReadFiles(img, "/etc/passwd", "/etc/group")
		if err != nil {
			return nil, nil, err
		}
		return bundle.ParseIDs(files["/etc/passwd"]), bundle.ParseIDs(files["/etc/group"]), nil
	}
	oci, keel, err := bundle.Config(e, label, cfg, phase, bundle.WithContainerIDs(ids), bundle.WithIDSource(imageIDs), bundle.WithArch(cache.arch))
	if err != nil {
		return part{}, nil, fmt.Errorf("%s: %w", where, err)
	}
	ociJSON, err := bundle.Marshal(oci)
	if err != nil {
		return part{}, nil, fmt.Errorf("%s: %w", where, err)
	}
	keelJSON, err := kbundle.Marshal(keel)
	if err != nil {
		return part{}, nil, fmt.Errorf("%s: %w", where, err)
	}
	fl.count(img)
	return part{
		What:   fmt.Sprintf("%s %s", phase, e.Name),
		inputs: []string{"container", dir, d.String(), string(ociJSON), string(keelJSON)},
		sys: &rootfs.System{
			Dirs: []rootfs.Entry{
				{Hdr: tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755}},
				{Hdr: tar.Header{Name: dir + "/rootfs", Typeflag: tar.TypeDir, Mode: 0o755}},
			},
			Layers: []rootfs.Layer{{What: fmt.Sprintf("%s image %s", where, e.Image), Prefix: dir + "/rootfs", Open: fl.opener(img)}},
			Files: []rootfs.Entry{
				{Hdr: tar.Header{Name: dir + "/config.json", Typeflag: tar.TypeReg, Mode: 0o644}, Body: ociJSON},
				{Hdr: tar.Header{Name: dir + "/" + kbundle.FileName, Typeflag: tar.TypeReg, Mode: 0o644}, Body: keelJSON},
			},
		},
	}, bundle.Risks(e, label), nil
}

// epoch is the time of every entry Keel writes.
var epoch = image.Epoch
