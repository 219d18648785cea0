package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/keel-os/keel/internal/atomicfile"
	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/progress"
)

// cacheCmd is `keel cache`: look at and fill the image cache, like
// `linuxkit cache`. Each subcommand is a thin handler over a cache*
// function that takes the opened cache in its options.
func cacheCmd(g *globals, stdout io.Writer) *cobra.Command {
	c := &cobra.Command{Use: "cache", Short: "Manage the image cache (an OCI image layout)"}
	c.AddCommand(cacheLsCmd(g, stdout), cachePullCmd(g), cacheImportCmd(g, stdout),
		cacheRmCmd(g), cacheCleanCmd(g, stdout), cacheExportCmd(g, stdout))
	return c
}

// withCache is a RunE that opens the cache and hands it to fn.
func withCache(g *globals, fn func(cmd *cobra.Command, cache *image.Cache, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cache, err := g.openCache()
		if err != nil {
			return err
		}
		return fn(cmd, cache, args)
	}
}

func cacheLsCmd(g *globals, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List the images in the cache",
		Args:  cobra.NoArgs,
		RunE: withCache(g, func(cmd *cobra.Command, cache *image.Cache, _ []string) error {
			return cacheLs(cmd.Context(), cacheLsOptions{Cache: cache}, stdout)
		}),
	}
}

type cacheLsOptions struct {
	Cache *image.Cache
}

// cacheLs prints one line per cached image: reference, architecture
// ("index" for an image index) and digest.
func cacheLs(_ context.Context, o cacheLsOptions, stdout io.Writer) error {
	entries, err := o.Cache.List()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	for _, e := range entries {
		arch := e.Arch
		if arch == "" {
			arch = "index"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Ref, arch, e.Digest)
	}
	return tw.Flush()
}

func cachePullCmd(g *globals) *cobra.Command {
	var o cachePullOptions
	c := &cobra.Command{
		Use:   "pull REF [REF...]",
		Short: "Fetch images from their registries into the cache (credentials from ~/.docker/config.json)",
		Args:  cobra.MinimumNArgs(1),
		RunE: withCache(g, func(cmd *cobra.Command, cache *image.Cache, args []string) error {
			rep, _, done := g.reporter(cmd.ErrOrStderr())
			defer done()
			o.Cache, o.Refs, o.Progress = cache, args, rep
			return cachePull(cmd.Context(), o)
		}),
	}
	c.Flags().IntVar(&o.Jobs, "jobs", 4, "images fetched at once")
	c.Flags().StringVar(&o.Arch, "arch", image.Architecture, "which variant of a multi-platform image to fetch: "+strings.Join(image.Architectures, " or "))
	return c
}

type cachePullOptions struct {
	Cache    *image.Cache
	Refs     []string
	Jobs     int
	Arch     string
	Progress progress.Reporter
}

// cachePull fetches o.Refs into the cache, re-checking tags already there.
func cachePull(ctx context.Context, o cachePullOptions) error {
	if err := image.CheckArch(o.Arch); err != nil {
		return fmt.Errorf("--arch: %w", err)
	}
	p := &image.Puller{Cache: o.Cache, Jobs: o.Jobs, Progress: o.Progress, Arch: o.Arch}
	return p.Ensure(ctx, o.Refs, image.PullAlways)
}

func cacheImportCmd(g *globals, stdout io.Writer) *cobra.Command {
	var o cacheImportOptions
	c := &cobra.Command{
		Use:   "import FILE|DIR",
		Short: "Copy images from a docker save or OCI archive, or an OCI layout directory, into the cache",
		Args:  cobra.ExactArgs(1),
		RunE: withCache(g, func(cmd *cobra.Command, cache *image.Cache, args []string) error {
			o.Cache, o.Source = cache, args[0]
			return cacheImport(cmd.Context(), o, stdout)
		}),
	}
	c.Flags().StringVar(&o.As, "name", "", "store the (single) image under this reference")
	return c
}

type cacheImportOptions struct {
	Cache *image.Cache
	// Source is the archive or layout directory; As, when set, names its
	// single image.
	Source, As string
}

// cacheImport copies the images of o.Source into the cache and prints
// each reference stored, also those stored before a failure.
func cacheImport(_ context.Context, o cacheImportOptions, stdout io.Writer) error {
	refs, err := o.Cache.Import(o.Source, o.As)
	for _, r := range refs {
		fmt.Fprintln(stdout, r)
	}
	return err
}

func cacheRmCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rm REF [REF...]",
		Short: "Remove images from the cache index",
		Args:  cobra.MinimumNArgs(1),
		RunE: withCache(g, func(cmd *cobra.Command, cache *image.Cache, args []string) error {
			return cacheRm(cmd.Context(), cacheRmOptions{Cache: cache, Refs: args})
		}),
	}
}

type cacheRmOptions struct {
	Cache *image.Cache
	Refs  []string
}

// cacheRm removes each of o.Refs from the index, failing at the first
// that is not there.
func cacheRm(_ context.Context, o cacheRmOptions) error {
	for _, r := range o.Refs {
		ok, err := o.Cache.Remove(r)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("image %s is not in the cache %s", r, o.Cache.Dir())
		}
	}
	return nil
}

func cacheCleanCmd(g *globals, stdout io.Writer) *cobra.Command {
	var o cacheCleanOptions
	c := &cobra.Command{
		Use:   "clean",
		Short: "Delete the blobs no cached image uses (with --all: empty the cache)",
		Args:  cobra.NoArgs,
		RunE: withCache(g, func(cmd *cobra.Command, cache *image.Cache, _ []string) error {
			o.Cache = cache
			return cacheClean(cmd.Context(), o, stdout)
		}),
	}
	c.Flags().BoolVar(&o.All, "all", false, "remove every image, initrd segment and downloaded Debian package too")
	return c
}

type cacheCleanOptions struct {
	Cache *image.Cache
	// All empties the cache first (image.Cache.Empty).
	All bool
}

// cacheClean deletes the unused blobs and says how many and how much.
func cacheClean(_ context.Context, o cacheCleanOptions, stdout io.Writer) error {
	if o.All {
		if err := o.Cache.Empty(); err != nil {
			return err
		}
	}
	st, err := o.Cache.Clean()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "removed %d blobs, %.1f MB\n", st.Blobs, float64(st.Bytes)/1e6)
	return nil
}

func cacheExportCmd(g *globals, stdout io.Writer) *cobra.Command {
	var o cacheExportOptions
	c := &cobra.Command{
		Use:   "export REF -o FILE",
		Short: "Write a cached image to an archive (oci: OCI layout in a tar; docker: docker save format)",
		Args:  cobra.ExactArgs(1),
		RunE: withCache(g, func(cmd *cobra.Command, cache *image.Cache, args []string) error {
			o.Cache, o.Ref = cache, args[0]
			return cacheExport(cmd.Context(), o, stdout)
		}),
	}
	c.Flags().StringVar(&o.Format, "format", image.ExportOCI, "archive format: oci or docker")
	c.Flags().StringVarP(&o.Output, "output", "o", "", "archive file; - writes to stdout")
	c.MarkFlagRequired("output") //nolint:errcheck // the flag exists
	return c
}

type cacheExportOptions struct {
	Cache *image.Cache
	Ref   string
	// Format is image.ExportOCI or image.ExportDocker.
	Format string
	// Output is the archive's file, written whole or not at all; "-"
	// means stdout.
	Output string
}

// cacheExport writes o.Ref's image as an archive.
func cacheExport(_ context.Context, o cacheExportOptions, stdout io.Writer) error {
	if o.Output == "-" {
		return o.Cache.Export(o.Ref, o.Format, stdout)
	}
	return atomicfile.Write(o.Output, 0o644, func(w io.Writer) error { return o.Cache.Export(o.Ref, o.Format, w) })
}
