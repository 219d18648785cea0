package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/keel-os/keel/packer/image"

	"github.com/keel-os/keel/internal/atomicfile"
)

// cacheCmd is `keel cache`: look at and fill the image cache, like
// `linuxkit cache`.
func cacheCmd(g *globals, stdout io.Writer) *cobra.Command {
	c := &cobra.Command{Use: "cache", Short: "Manage the image cache (an OCI image layout)"}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the images in the cache",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cache, err := g.openCache()
			if err != nil {
				return err
			}
			entries, err := cache.List()
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
		},
	}
	var jobs int
	var pullArch string
	pull := &cobra.Command{
		Use:   "pull REF [REF...]",
		Short: "Fetch images from their registries into the cache (credentials from ~/.docker/config.json)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cache, err := g.openCache()
			if err != nil {
				return err
			}
			if err := image.CheckArch(pullArch); err != nil {
				return fmt.Errorf("--arch: %w", err)
			}
			rep, _, done := g.reporter(cmd.ErrOrStderr())
			defer done()
			p := &image.Puller{Cache: cache, Jobs: jobs, Progress: rep, Arch: pullArch}
			return p.Ensure(cmd.Context(), args, image.PullAlways)
		},
	}
	pull.Flags().IntVar(&jobs, "jobs", 4, "images fetched at once")
	pull.Flags().StringVar(&pullArch, "arch", image.Architecture, "which variant of a multi-platform image to fetch: "+strings.Join(image.Architectures, " or "))
	var as string
	imp := &cobra.Command{
		Use:   "import FILE|DIR",
		Short: "Copy images from a docker save or OCI archive, or an OCI layout directory, into the cache",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cache, err := g.openCache()
			if err != nil {
				return err
			}
			refs, err := cache.Import(args[0], as)
			for _, r := range refs {
				fmt.Fprintln(stdout, r)
			}
			return err
		},
	}
	imp.Flags().StringVar(&as, "name", "", "store the (single) image under this reference")
	rm := &cobra.Command{
		Use:   "rm REF [REF...]",
		Short: "Remove images from the cache index",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cache, err := g.openCache()
			if err != nil {
				return err
			}
			for _, r := range args {
				ok, err := cache.Remove(r)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("image %s is not in the cache %s", r, cache.Dir())
				}
			}
			return nil
		},
	}
	var all bool
	clean := &cobra.Command{
		Use:   "clean",
		Short: "Delete the blobs no cached image uses (with --all: empty the cache)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cache, err := g.openCache()
			if err != nil {
				return err
			}
			if all {
				entries, err := cache.List()
				if err != nil {
					return err
				}
				for _, e := range entries {
					if _, err := cache.Remove(e.Ref); err != nil {
						return err
					}
				}
				// Derived and downloaded files live next to the layout.
				for _, sub := range []string{"segments", "debs"} {
					if err := os.RemoveAll(filepath.Join(cache.Dir(), sub)); err != nil {
						return fmt.Errorf("emptying the cache: %w", err)
					}
				}
			}
			st, err := cache.Clean()
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "removed %d blobs, %.1f MB\n", st.Blobs, float64(st.Bytes)/1e6)
			return nil
		},
	}
	clean.Flags().BoolVar(&all, "all", false, "remove every image, initrd segment and downloaded Debian package too")
	var format, out string
	export := &cobra.Command{
		Use:   "export REF -o FILE",
		Short: "Write a cached image to an archive (oci: OCI layout in a tar; docker: docker save format)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cache, err := g.openCache()
			if err != nil {
				return err
			}
			if out == "-" {
				return cache.Export(args[0], format, stdout)
			}
			return atomicfile.Write(out, 0o644, func(w io.Writer) error { return cache.Export(args[0], format, w) })
		},
	}
	export.Flags().StringVar(&format, "format", image.ExportOCI, "archive format: oci or docker")
	export.Flags().StringVarP(&out, "output", "o", "", "archive file; - writes to stdout")
	export.MarkFlagRequired("output") //nolint:errcheck // the flag exists
	c.AddCommand(ls, pull, imp, rm, clean, export)
	return c
}
