package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keel-os/keel/packer/build"
	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/output"
	"github.com/keel-os/keel/packer/run"
	"github.com/keel-os/keel/packer/uki"
)

// buildOptions is `keel build`: what build.Options holds, plus the flags
// that still need parsing or that pick between Load and Run.
type buildOptions struct {
	build.Options
	// DryRun prints the merged spec instead of building (--dry-run).
	DryRun bool
	// FormatSet says --format was given: without it, -o means a tar,
	// LinuxKit's default.
	FormatSet bool
	// Size is --size as typed (e.g. 1G).
	Size string
	// SignKey and SignCert are --sign-key and --sign-cert, both or
	// neither.
	SignKey, SignCert string
}

// runBuild builds (or with DryRun, merges and prints) o.Files. The
// artifact of `-o -` and the merged spec go to stdout; what was built is
// reported on log.
func runBuild(ctx context.Context, o buildOptions, stdout, log io.Writer) error {
	opt := o.Options
	if opt.Output != "" && !o.FormatSet {
		opt.Format = build.FormatTar
	}
	if o.Size != "" {
		n, err := run.ParseSize(o.Size)
		if err != nil {
			return fmt.Errorf("--size: %w", err)
		}
		opt.Size = n
	}
	if (o.SignKey == "") != (o.SignCert == "") {
		return errors.New("Secure Boot signing needs both --sign-key and --sign-cert")
	}
	if o.SignKey != "" {
		s, err := uki.LoadSigner(o.SignCert, o.SignKey)
		if err != nil {
			return fmt.Errorf("--sign-key/--sign-cert: %w", err)
		}
		opt.Signer = s
	}
	opt.Stdout, opt.Log = stdout, log
	if o.DryRun {
		opt.TagsOnly = true
		s, err := build.Load(ctx, opt)
		if err != nil {
			return err
		}
		out, err := s.YAML()
		if err != nil {
			return err
		}
		_, err = stdout.Write(out)
		return err
	}
	if opt.Name == "" && len(opt.Files) > 0 {
		opt.Name = build.DefaultName(opt.Files[0])
	}
	res, err := build.Run(ctx, opt)
	if err != nil {
		return err
	}
	switch {
	case res.Output == "-":
	case res.Output != "":
		fmt.Fprintf(log, "built %s\n", res.Output)
	case res.Root != "":
		fmt.Fprintf(log, "built %s %s %s %s\n", res.Kernel, res.Initrd, res.Cmdline, res.Root)
	default:
		fmt.Fprintf(log, "built %s %s %s\n", res.Kernel, res.Initrd, res.Cmdline)
	}
	return nil
}

func buildCmd(g *globals, stdin io.Reader, stdout io.Writer) *cobra.Command {
	var o buildOptions
	c := &cobra.Command{
		Use:   "build [flags] SPEC.yml [SPEC.yml...]",
		Short: "Build a bootable image from one or more spec files (merged in order; - reads stdin)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cache, err := g.openCache()
			if err != nil {
				return err
			}
			// Messages go to stderr: stdout is for the artifact (`-o -`)
			// or the merged spec (--dry-run).
			rep, log, done := g.reporter(cmd.ErrOrStderr())
			defer done()
			o.Files, o.Cache, o.Stdin, o.Progress = args, cache, stdin, rep
			o.Warn = g.warnings(log, cmd.ErrOrStderr())
			o.FormatSet = cmd.Flags().Changed("format")
			return runBuild(cmd.Context(), o, stdout, log)
		},
	}
	f := c.Flags()
	f.StringVar(&o.Format, "format", build.FormatKernelInitrd, "output format: "+strings.Join(build.Formats, ", ")+" (see docs/formats.md)")
	f.StringVar(&o.Size, "size", "", "disk size of a disk image format, e.g. 1G (default: just large enough)")
	f.StringVarP(&o.Output, "output", "o", "", "file for a one-file format (every format but kernel+initrd, kernel+squashfs, kernel+iso and kernel+erofs; without -format, tar); - writes it to stdout")
	f.StringVar(&o.Compress, "compress", string(output.Default), "initrd compression: zstd, gzip (LinuxKit's), lz4 or none (zstd is the smallest and unpacks about as fast as lz4; see docs/formats.md)")
	f.StringVar(&o.Rootfs, "rootfs", "", "root filesystem: squashfs (one compressed image per part in the initrd, mounted read-only under a tmpfs overlay; needs mksquashfs) or initrd (unpacked into RAM) (default: squashfs where mksquashfs is installed and the spec has init images, else initrd)")
	f.StringVar(&o.Dir, "dir", ".", "output directory")
	f.StringVar(&o.Name, "name", "", "output name (default: the first spec's base name)")
	f.StringVar(&o.Pull, "pull", image.PullMissing, "when to fetch registry images: missing, always (re-check tags) or never")
	f.BoolVar(&o.Strict, "strict", false, "fail instead of warning when a container loosens the default confinement (privileged, CAP_SYS_ADMIN, a bind of the host's /, /run or a runtime socket, seccomp off, the host's pid or net namespace; see docs/security.md)")
	f.BoolVar(&o.DryRun, "dry-run", false, "print the merged spec (with @pkg: resolved to tags) and build nothing")
	f.StringVar(&o.SignKey, "sign-key", "", "PEM private key that signs the UKI of uki, iso-efi, raw-efi and qcow2-efi for Secure Boot (with --sign-cert)")
	f.StringVar(&o.SignCert, "sign-cert", "", "PEM certificate of --sign-key, embedded in the signature")
	f.BoolVar(&o.NoSBOM, "no-sbom", false, "leave out the SBOM: the SPDX document merged from every image's, written at the image root (see docs/sbom.md)")
	f.StringVar(&o.SBOMOutput, "sbom-output", build.DefaultSBOMOutput, "the SBOM's file name in the image, from its root (LinuxKit's flag)")
	f.StringVar(&o.SBOMCopy, "sbom-copy", "", "also write the SBOM to this file on the host")
	f.BoolVar(&o.SBOMCurrentTime, "sbom-current-time", false, "date the SBOM now instead of at a fixed time; the image then differs from build to build")
	f.StringVar(&o.Arch, "arch", image.Architecture, "architecture of the system: "+strings.Join(image.Architectures, " or ")+" (images resolve to that variant; @pkg: packages are built for it)")
	return c
}
