// Package cli is the `keel` command line as a library: main only calls Run,
// so tests can drive exactly what a user types, in-process.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keel-os/keel/internal/cidata"
	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/progress"
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

// openCache opens --cache, or where it is empty, image.DefaultDir.
func (g *globals) openCache() (*image.Cache, error) {
	return image.Open(g.cache)
}

// warnings is where warnings go: to log like other messages, but to
// stderr even with -q, since warnings are not progress.
func (g *globals) warnings(log, stderr io.Writer) io.Writer {
	if g.quiet {
		return stderr
	}
	return log
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "keel",
		Short:         "Build and run minimal, immutable, container-based Linux systems",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.cache, "cache", "", "image cache directory (OCI layout) (default $KEEL_CACHE, else $XDG_CACHE_HOME/keel, else ~/.cache/keel)")
	root.PersistentFlags().BoolVarP(&g.quiet, "quiet", "q", false, "print nothing but warnings and errors")
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "print every step: pulls, segments built or cached, files written")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		if g.quiet && g.verbose {
			return fmt.Errorf("-q (print nothing) and -v (print every step) contradict each other: give one of them")
		}
		return nil
	}
	root.AddCommand(buildCmd(g, stdin, stdout), pkgCmd(g, stdout), runCmd(g, stdin, stdout, stderr), pushCmd(g, stdout, stderr), rmCmd(g, stdout, stderr), cacheCmd(g, stdout), metadataCmd(stdout), versionCmd(stdout))
	return root
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
