// Package cli is the `keel` command line as a library: main only calls Run,
// so tests can drive exactly what a user types, in-process.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keel-os/keel/internal/cidata"
	"github.com/keel-os/keel/packer/build"
	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/output"
	"github.com/keel-os/keel/packer/progress"
	"github.com/keel-os/keel/packer/run"
	"github.com/keel-os/keel/packer/uki"
)

// Run executes the keel command line args (without the program name) and
// returns the process exit status.
func Run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(longFlags(args))
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "keel: %v\n", err)
		return 1
	}
	return 0
}

// longFlags accepts LinuxKit's single-dash long flags (`-format`, `-dir`)
// by rewriting them to the double-dash form cobra parses.
func longFlags(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if len(name) > 1 {
				a = "-" + a
			}
		}
		out[i] = a
	}
	return out
}

type globals struct {
	cache          string
	quiet, verbose bool
}

// reporter picks how progress shows on stderr: nothing with -q; progress
// bars when stderr is a terminal; else a line per pull, or per step with
// -v. It also returns the writer for other messages (nothing but errors
// with -q) and what to call when the command is done.
func (g *globals) reporter(stderr io.Writer) (progress.Reporter, io.Writer, func()) {
	switch {
	case g.quiet:
		return progress.Nop{}, io.Discard, func() {}
	case progress.IsTerminal(stderr):
		b := progress.NewBars(stderr, g.verbose)
		return b, b, b.Close
	}
	return &progress.Lines{W: stderr, Verbose: g.verbose}, stderr, func() {}
}

func (g *globals) openCache() (*image.Cache, error) {
	return image.Open(g.cache)
}

func (g *globals) debCache() string {
	return filepath.Join(g.cache, "debs")
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "keel",
		Short:         "Build and run minimal, immutable, container-based Linux systems",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.cache, "cache", defaultCache(), "image cache directory (OCI layout); $KEEL_CACHE")
	root.PersistentFlags().BoolVarP(&g.quiet, "quiet", "q", false, "print nothing but warnings and errors")
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "print every step: pulls, segments built or cached, files written")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if g.quiet && g.verbose {
			return fmt.Errorf("-q (print nothing) and -v (print every step) contradict each other: give one of them")
		}
		return nil
	}
	root.AddCommand(buildCmd(g, stdin, stdout), pkgCmd(g, stdout), runCmd(g, stdin, stdout, stderr), pushCmd(g, stdout, stderr), cacheCmd(g, stdout), metadataCmd(stdout), versionCmd(stdout))
	return root
}

func defaultCache() string {
	if c := os.Getenv("KEEL_CACHE"); c != "" {
		return c
	}
	if c := os.Getenv("XDG_CACHE_HOME"); c != "" {
		return filepath.Join(c, "keel")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".cache", "keel")
	}
	return ".keel-cache"
}

func buildCmd(g *globals, stdin io.Reader, stdout io.Writer) *cobra.Command {
	var opt build.Options
	var dryRun bool
	var size, signKey, signCert string
	c := &cobra.Command{
		Use:   "build [flags] SPEC.yml [SPEC.yml...]",
		Short: "Build a bootable image from one or more spec files (merged in order; - reads stdin)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := image.CheckPullPolicy(opt.Pull); err != nil {
				return err
			}
			if opt.Output != "" && !cmd.Flags().Changed("format") {
				// LinuxKit's default when -o names a file: the tar.
				opt.Format = build.FormatTar
			}
			if size != "" {
				n, err := run.ParseSize(size)
				if err != nil {
					return fmt.Errorf("--size: %w", err)
				}
				opt.Size = n
			}
			if (signKey == "") != (signCert == "") {
				return errors.New("Secure Boot signing needs both --sign-key and --sign-cert")
			}
			if signKey != "" {
				s, err := uki.LoadSigner(signCert, signKey)
				if err != nil {
					return fmt.Errorf("--sign-key/--sign-cert: %w", err)
				}
				opt.Signer = s
			}
			cache, err := g.openCache()
			if err != nil {
				return err
			}
			// Messages go to stderr: stdout is for the artifact (`-o -`)
			// or the merged spec (--dry-run).
			rep, log, done := g.reporter(cmd.ErrOrStderr())
			defer done()
			opt.Files, opt.Cache, opt.DebCache, opt.Stdin = args, cache, g.debCache(), stdin
			opt.Stdout, opt.Log, opt.Progress = stdout, log, rep
			// Warnings are not progress: -q keeps them.
			opt.Warn = log
			if g.quiet {
				opt.Warn = cmd.ErrOrStderr()
			}
			if dryRun {
				opt.TagsOnly = true
				s, err := build.Load(cmd.Context(), opt)
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
			if opt.Name == "" {
				opt.Name = build.DefaultName(args[0])
			}
			res, err := build.Run(cmd.Context(), opt)
			if err != nil {
				return err
			}
			switch {
			case res.Output == "-":
			case res.Output != "":
				fmt.Fprintf(opt.Log, "built %s\n", res.Output)
			case res.Root != "":
				fmt.Fprintf(opt.Log, "built %s %s %s %s\n", res.Kernel, res.Initrd, res.Cmdline, res.Root)
			default:
				fmt.Fprintf(opt.Log, "built %s %s %s\n", res.Kernel, res.Initrd, res.Cmdline)
			}
			return nil
		},
	}
	c.Flags().StringVar(&opt.Format, "format", build.FormatKernelInitrd, "output format: "+strings.Join(build.Formats, ", ")+" (see docs/formats.md)")
	c.Flags().StringVar(&size, "size", "", "disk size of a disk image format, e.g. 1G (default: just large enough)")
	c.Flags().StringVarP(&opt.Output, "output", "o", "", "file for a one-file format (every format but kernel+initrd, kernel+squashfs, kernel+iso and kernel+erofs; without -format, tar); - writes it to stdout")
	c.Flags().StringVar(&opt.Compress, "compress", string(output.Default), "initrd compression: zstd, gzip (LinuxKit's), lz4 or none (zstd is the smallest and unpacks about as fast as lz4; see docs/formats.md)")
	c.Flags().StringVar(&opt.Rootfs, "rootfs", "", "root filesystem: squashfs (one compressed image per part in the initrd, mounted read-only under a tmpfs overlay; needs mksquashfs) or initrd (unpacked into RAM) (default: squashfs where mksquashfs is installed and the spec has init images, else initrd)")
	c.Flags().StringVar(&opt.Dir, "dir", ".", "output directory")
	c.Flags().StringVar(&opt.Name, "name", "", "output name (default: the first spec's base name)")
	c.Flags().StringVar(&opt.Pull, "pull", image.PullMissing, "when to fetch registry images: missing, always (re-check tags) or never")
	c.Flags().BoolVar(&opt.Strict, "strict", false, "fail instead of warning when a container loosens the default confinement (privileged, CAP_SYS_ADMIN, a bind of the host's /, /run or a runtime socket, seccomp off, the host's pid or net namespace; see docs/security.md)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print the merged spec (with @pkg: resolved to tags) and build nothing")
	c.Flags().StringVar(&signKey, "sign-key", "", "PEM private key that signs the UKI of uki, iso-efi, raw-efi and qcow2-efi for Secure Boot (with --sign-cert)")
	c.Flags().StringVar(&signCert, "sign-cert", "", "PEM certificate of --sign-key, embedded in the signature")
	c.Flags().BoolVar(&opt.NoSBOM, "no-sbom", false, "leave out the SBOM: the SPDX document merged from every image's, written at the image root (see docs/sbom.md)")
	c.Flags().StringVar(&opt.SBOMOutput, "sbom-output", build.DefaultSBOMOutput, "the SBOM's file name in the image, from its root (LinuxKit's flag)")
	c.Flags().StringVar(&opt.SBOMCopy, "sbom-copy", "", "also write the SBOM to this file on the host")
	c.Flags().BoolVar(&opt.SBOMCurrentTime, "sbom-current-time", false, "date the SBOM now instead of at a fixed time; the image then differs from build to build")
	c.Flags().StringVar(&opt.Arch, "arch", image.Architecture, "architecture of the system: "+strings.Join(image.Architectures, " or ")+" (images resolve to that variant; @pkg: packages are built for it)")
	return c
}

func metadataCmd(stdout io.Writer) *cobra.Command {
	c := &cobra.Command{Use: "metadata", Short: "Make metadata for the in-system metadata agent"}
	var hostname string
	create := &cobra.Command{
		Use:   "create OUT.iso DATA",
		Short: "Write a NoCloud (cidata) ISO holding DATA as userdata (also as LinuxKit's config file)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cidata.CreateFile(args[0], []byte(args[1]), hostname); err != nil {
				return err
			}
			fmt.Fprintln(stdout, args[0])
			return nil
		},
	}
	create.Flags().StringVar(&hostname, "hostname", "", "local-hostname in meta-data")
	c.AddCommand(create)
	return c
}

// Main is what cmd main calls.
func Main() {
	os.Exit(Run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
