package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/keel-os/keel/packer/image"
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
				fmt.Fprintf(tw, "%s\t%s\n", e.Ref, e.Digest)
			}
			return tw.Flush()
		},
	}
	var jobs int
	pull := &cobra.Command{
		Use:   "pull REF [REF...]",
		Short: "Fetch images from their registries into the cache (credentials from ~/.docker/config.json)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cache, err := g.openCache()
			if err != nil {
				return err
			}
			p := &image.Puller{Cache: cache, Jobs: jobs, Log: stdout}
			return p.Ensure(cmd.Context(), args, image.PullAlways)
		},
	}
	pull.Flags().IntVar(&jobs, "jobs", 4, "images fetched at once")
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
	c.AddCommand(ls, pull, imp, rm)
	return c
}
