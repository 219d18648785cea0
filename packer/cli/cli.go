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
	root.PersistentFlags().BoolVarP(&g.quiet, "quiet", "q", false, "print nothing but errors")
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "print every step: pulls, segments built or cached, files written")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if g.quiet && g.verbose {
			return fmt.Errorf("-q (print nothing) and -v (print every step) contradict each other: give one of them")
		}
		return nil
	}
	root.AddCommand(buildCmd(g, stdin, stdout), pkgCmd(g, stdout), runCmd(stdin, stdout), cacheCmd(g, stdout), metadataCmd(stdout))
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
				opt.Name = strings.TrimSuffix(filepath.Base(args[0]), filepath.Ext(args[0]))
				if args[0] == "-" {
					opt.Name = "keel"
				}
			}
			res, err := build.Run(cmd.Context(), opt)
			if err != nil {
				return err
			}
			switch {
			case res.Output == "-":
			case res.Output != "":
				fmt.Fprintf(opt.Log, "built %s\n", res.Output)
			default:
				fmt.Fprintf(opt.Log, "built %s %s %s\n", res.Kernel, res.Initrd, res.Cmdline)
			}
			return nil
		},
	}
	c.Flags().StringVar(&opt.Format, "format", build.FormatKernelInitrd, "output format: "+strings.Join(build.Formats, ", ")+" (see docs/formats.md)")
	c.Flags().StringVar(&size, "size", "", "disk size of a disk image format, e.g. 1G (default: just large enough)")
	c.Flags().StringVarP(&opt.Output, "output", "o", "", "file for a one-file format (every format but kernel+initrd; without -format, tar); - writes it to stdout")
	c.Flags().StringVar(&opt.Compress, "compress", string(output.Default), "initrd compression: zstd, gzip (LinuxKit's), lz4 or none (zstd is the smallest and unpacks about as fast as lz4; see docs/formats.md)")
	c.Flags().StringVar(&opt.Rootfs, "rootfs", build.RootfsInitrd, "root filesystem: initrd (unpacked into RAM) or squashfs (one compressed image in the initrd, mounted read-only under a tmpfs overlay; needs mksquashfs)")
	c.Flags().StringVar(&opt.Dir, "dir", ".", "output directory")
	c.Flags().StringVar(&opt.Name, "name", "", "output name (default: the first spec's base name)")
	c.Flags().StringVar(&opt.Pull, "pull", image.PullMissing, "when to fetch registry images: missing, always (re-check tags) or never")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print the merged spec (with @pkg: resolved to tags) and build nothing")
	c.Flags().StringVar(&signKey, "sign-key", "", "PEM private key that signs the UKI of uki, iso-efi, raw-efi and qcow2-efi for Secure Boot (with --sign-cert)")
	c.Flags().StringVar(&signCert, "sign-cert", "", "PEM certificate of --sign-key, embedded in the signature")
	c.Flags().StringVar(&opt.Arch, "arch", image.Architecture, "architecture of the system: "+strings.Join(image.Architectures, " or ")+" (images resolve to that variant; @pkg: packages are built for it)")
	return c
}

func runCmd(stdin io.Reader, stdout io.Writer) *cobra.Command {
	c := &cobra.Command{Use: "run", Short: "Boot a built image"}
	q := &run.QEMU{}
	var data, dataFile string
	var publish, disks []string
	qc := &cobra.Command{
		Use:   "qemu PREFIX|FILE",
		Short: "Boot a build in QEMU with the console on this terminal",
		Long: `Boot a build in QEMU with the console on this terminal: PREFIX-kernel +
PREFIX-initrd.img, or an image file (.iso, raw .img/.raw, .qcow2, .vhd, .vmdk,
or a UKI .efi). Images that need UEFI (raw-efi, iso-efi, uki, *-efi.*) boot
with OVMF by themselves; --uefi forces it. The exit status is 0 when the
guest powered itself off cleanly.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			q.Prefix, q.Stdin, q.Stdout = args[0], stdin, stdout
			if q.Detach && q.StateDir == "" {
				// A detached guest outlives this command: its state must
				// be somewhere the user can find.
				q.StateDir = strings.TrimSuffix(args[0], filepath.Ext(args[0])) + "-state"
			}
			for _, s := range publish {
				p, err := run.ParsePublish(s)
				if err != nil {
					return err
				}
				q.Publish = append(q.Publish, p)
			}
			for _, s := range disks {
				d, err := run.ParseDisk(s)
				if err != nil {
					return err
				}
				q.Disks = append(q.Disks, d)
			}
			extra, cleanup, err := metadataArgs(data, dataFile)
			if err != nil {
				return err
			}
			defer cleanup()
			q.Extra = append(q.Extra, extra...)
			if err := q.Run(cmd.Context()); err != nil {
				return err
			}
			if q.Detach {
				fmt.Fprintf(stdout, "started: console %s, pid in %s\n", filepath.Join(q.StateDir, "console.log"), filepath.Join(q.StateDir, "qemu.pid"))
			}
			return nil
		},
	}
	qc.Flags().IntVar(&q.Mem, "mem", 1024, "guest memory in MiB")
	qc.Flags().StringVar(&q.Arch, "arch", "", "guest architecture: "+strings.Join(run.Arches(), " or ")+" (default: the kernel's or UKI's, else amd64; arm64 runs on QEMU's virt board; give it for an arm64 disk or ISO)")
	qc.Flags().IntVar(&q.CPUs, "cpus", 1, "guest CPUs")
	qc.Flags().StringVar(&q.KVM, "kvm", "auto", "use KVM: auto, on or off")
	qc.Flags().StringVar(&q.ExtraCmdline, "cmdline", "", "extra kernel command line")
	qc.Flags().StringVar(&data, "data", "", "userdata for the metadata agent, passed through QEMU fw_cfg")
	qc.Flags().StringVar(&dataFile, "data-file", "", "a cidata ISO (attached as a disk) or a userdata file (passed through fw_cfg)")
	qc.Flags().StringArrayVar(&publish, "publish", nil, "forward a host port to the guest: host:guest[/tcp|udp] (repeatable)")
	qc.Flags().BoolVar(&q.UEFI, "uefi", false, "boot with UEFI firmware (OVMF, Debian's ovmf package)")
	qc.Flags().BoolVar(&q.SecureBoot, "secure-boot", false, "boot with UEFI Secure Boot enforced (implies --uefi); the keys are Debian's test keys unless --secure-boot-vars names another store")
	qc.Flags().StringVar(&q.SecureBootVars, "secure-boot-vars", "", "OVMF variable store (4M) with your PK, KEK and db enrolled, for --secure-boot")
	qc.Flags().StringVar(&q.StateDir, "state", "", "directory for the UEFI variables, the ESP made for a UKI, and with --detach the console log and pid (default: temporary; PREFIX-state with --detach)")
	qc.Flags().BoolVar(&q.Detach, "detach", false, "run in the background: console in STATE/console.log, pid in STATE/qemu.pid")
	qc.Flags().StringArrayVar(&disks, "disk", nil, "attach a disk: file[,size=1G][,format=raw|qcow2] (created if missing; repeatable)")
	c.AddCommand(qc)
	return c
}

// metadataArgs turns --data/--data-file into QEMU arguments. A string is
// written to a temporary file that lives as long as QEMU runs.
func metadataArgs(data, dataFile string) ([]string, func(), error) {
	nothing := func() {}
	switch {
	case data != "" && dataFile != "":
		return nil, nothing, fmt.Errorf("give --data or --data-file, not both")
	case data != "":
		f, err := os.CreateTemp("", "keel-userdata-")
		if err != nil {
			return nil, nothing, err
		}
		if _, err := f.WriteString(data); err != nil {
			f.Close()
			os.Remove(f.Name())
			return nil, nothing, err
		}
		f.Close()
		return cidata.FwCfgArgs(f.Name()), func() { os.Remove(f.Name()) }, nil
	case dataFile != "":
		if _, err := os.Stat(dataFile); err != nil {
			return nil, nothing, fmt.Errorf("--data-file: %w", err)
		}
		if strings.HasSuffix(strings.ToLower(dataFile), ".iso") {
			return cidata.DriveArgs(dataFile), nothing, nil
		}
		return cidata.FwCfgArgs(dataFile), nothing, nil
	}
	return nil, nothing, nil
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
