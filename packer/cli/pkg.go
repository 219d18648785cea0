package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/pkgbuild"
)

func pkgCmd(g *globals, stdout io.Writer) *cobra.Command {
	c := &cobra.Command{Use: "pkg", Short: "Build system packages (pkgs/<name>/build.yml) without Docker"}
	c.AddCommand(pkgBuildCmd(g, stdout), pkgShowTagCmd(stdout), pkgLsCmd(g, stdout))
	return c
}

// pkgArches names the --arch values of the pkg commands.
var pkgArches = strings.Join(image.Architectures, ", ") + " or " + pkgbuild.ArchAll

func checkPkgArch(arch string) error {
	if arch == pkgbuild.ArchAll {
		return nil
	}
	if err := image.CheckArch(arch); err != nil {
		return fmt.Errorf("--arch: %w (or %s)", err, pkgbuild.ArchAll)
	}
	return nil
}

func pkgBuildCmd(g *globals, stdout io.Writer) *cobra.Command {
	var force, updateLock, insecure bool
	var push, arch string
	b := &cobra.Command{
		Use:   "build DIR [DIR...]",
		Short: "Build each package into the image cache and print its reference",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPkgArch(arch); err != nil {
				return err
			}
			if push != "" && arch != image.Architecture {
				return fmt.Errorf("--push sends %s images only so far: build --arch %s without --push", image.Architecture, arch)
			}
			cache, err := g.openCache()
			if err != nil {
				return err
			}
			_, log, done := g.reporter(cmd.ErrOrStderr())
			defer done()
			for _, d := range args {
				ref, err := pkgbuild.Build(cmd.Context(), d, pkgbuild.Options{Cache: cache, Stdout: log, Force: force, UpdateLock: updateLock, Arch: arch})
				if err != nil {
					return fmt.Errorf("%s: %w", d, err)
				}
				if push == "" {
					fmt.Fprintln(stdout, ref)
					continue
				}
				p := &image.Pusher{Cache: cache, Insecure: insecure, Log: cmd.ErrOrStderr()}
				res, err := p.Push(cmd.Context(), ref, push)
				if err != nil {
					return fmt.Errorf("%s: %w", d, err)
				}
				fmt.Fprintln(stdout, res.Index)
			}
			return nil
		},
	}
	b.Flags().BoolVar(&force, "force", false, "build even when the tag is already in the cache")
	b.Flags().BoolVar(&updateLock, "update-lock", false, "take apt's current Debian packages instead of those pinned in "+pkgbuild.LockFile+" (debian.<arch>.lock for other architectures), and rewrite it")
	b.Flags().StringVar(&arch, "arch", image.Architecture, "architecture to build for: "+pkgArches+" (an image index of every architecture)")
	b.Flags().StringVar(&push, "push", "", "also push each image to this registry (host[:port][/path]) as REG/ORG/IMAGE:TAG (an index) and :TAG-amd64; credentials from ~/.docker/config.json")
	b.Flags().BoolVar(&insecure, "insecure", false, "with --push: allow plain HTTP and unverified TLS (loopback registries use HTTP anyway)")
	return b
}

func pkgShowTagCmd(stdout io.Writer) *cobra.Command {
	var arch string
	show := &cobra.Command{
		Use:   "show-tag DIR [DIR...]",
		Short: "Print each package's reference (its tag is a hash of every input)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPkgArch(arch); err != nil {
				return err
			}
			for _, d := range args {
				ref, err := pkgbuild.RefFor(cmd.Context(), d, arch)
				if err != nil {
					return err
				}
				fmt.Fprintln(stdout, ref)
			}
			return nil
		},
	}
	show.Flags().StringVar(&arch, "arch", image.Architecture, "architecture whose tag to print: "+pkgArches)
	return show
}

// pkgListing is one row of `keel pkg ls`.
type pkgListing struct {
	Dir    string `json:"dir"`
	Ref    string `json:"ref,omitempty"`
	Built  bool   `json:"built"`
	Digest string `json:"digest,omitempty"`
	// Size is the compressed size of the image: manifest, config and
	// layers, what a registry stores for it.
	Size  int64  `json:"size,omitempty"`
	Error string `json:"error,omitempty"`
}

func pkgLsCmd(g *globals, stdout io.Writer) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "ls [DIR...]",
		Short: "List the packages (directories with a build.yml) under each DIR (default ./pkgs), their references and whether they are built",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				args = []string{"pkgs"}
			}
			dirs, err := findPackages(args)
			if err != nil {
				return err
			}
			cache, err := g.openCache()
			if err != nil {
				return err
			}
			rows := listPackages(cache, dirs)
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rows); err != nil {
					return err
				}
			} else {
				writeListing(stdout, rows)
			}
			failed := 0
			for _, r := range rows {
				if r.Error != "" {
					failed++
				}
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d packages have errors (see the list)", failed, len(rows))
			}
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print a JSON array (dir, ref, built, digest, size in bytes, error)")
	return c
}

// findPackages returns the package directories at or below each root,
// sorted. Hidden directories are not searched.
func findPackages(roots []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, root := range roots {
		n := len(out)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				return nil
			}
			if p != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, pkgbuild.FileName)); err == nil && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("listing packages under %s: %w", root, err)
		}
		if len(out) == n {
			return nil, fmt.Errorf("no package (a directory with %s) at or below %s", pkgbuild.FileName, root)
		}
	}
	sort.Strings(out)
	return out, nil
}

// listPackages computes each package's reference (a few at a time: each
// may run `go list`) and looks it up in the cache.
func listPackages(cache *image.Cache, dirs []string) []pkgListing {
	rows := make([]pkgListing, len(dirs))
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i, d := range dirs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rows[i] = listPackage(cache, d)
		}()
	}
	wg.Wait()
	return rows
}

func listPackage(cache *image.Cache, dir string) pkgListing {
	row := pkgListing{Dir: dir}
	fail := func(err error) pkgListing {
		row.Error = err.Error()
		return row
	}
	p, err := pkgbuild.Load(dir)
	if err != nil {
		return fail(err)
	}
	if row.Ref, err = p.Ref(); err != nil {
		return fail(err)
	}
	if row.Built, err = cache.Has(row.Ref); err != nil || !row.Built {
		if err != nil {
			return fail(err)
		}
		return row
	}
	img, err := cache.Get(row.Ref)
	if err != nil {
		return fail(err)
	}
	d, err := img.Digest()
	if err != nil {
		return fail(err)
	}
	row.Digest = d.String()
	if row.Size, err = image.StoredSize(img); err != nil {
		return fail(err)
	}
	return row
}

func writeListing(w io.Writer, rows []pkgListing) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PACKAGE\tREFERENCE\tBUILT\tSIZE")
	for _, r := range rows {
		switch {
		case r.Error != "":
			fmt.Fprintf(tw, "%s\t-\terror: %s\t\n", r.Dir, strings.ReplaceAll(r.Error, "\n", " "))
		case r.Built:
			fmt.Fprintf(tw, "%s\t%s\tyes\t%s\n", r.Dir, r.Ref, humanSize(r.Size))
		default:
			fmt.Fprintf(tw, "%s\t%s\tno\t-\n", r.Dir, r.Ref)
		}
	}
	tw.Flush()
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
