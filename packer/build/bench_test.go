package build

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/image"
)

// BenchmarkBuildLinuxKitShaped is `make bench-build`: it builds
// testdata/linuxkit-shaped.yml from the packages in $KEEL_CACHE (built on
// first use) with an empty segment cache (cold), again (warm), then the
// variant with one service changed (rebuild), and reports each time and
// the initrd's size per segment. Run with -benchtime 1x.
func BenchmarkBuildLinuxKitShaped(b *testing.B) {
	dir := os.Getenv("KEEL_CACHE")
	if dir == "" {
		b.Skip("set KEEL_CACHE to the package cache (make bench-build does)")
	}
	cache, err := image.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	spec := func(name string) Options {
		return Options{Files: []string{filepath.Join("testdata", name)}, Cache: cache, DebCache: filepath.Join(dir, "debs"),
			Dir: b.TempDir(), Name: "lk", Pull: image.PullNever}
	}
	// Build the packages (if needed) outside the timings.
	if _, err := Load(context.Background(), spec("linuxkit-shaped.yml")); err != nil {
		b.Fatal(err)
	}
	if _, err := Load(context.Background(), spec("linuxkit-shaped-changed.yml")); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		segs := b.TempDir()
		run := func(name string) (*Result, time.Duration) {
			opt := spec(name)
			opt.SegmentDir = segs
			start := time.Now()
			r, err := Run(context.Background(), opt)
			if err != nil {
				b.Fatal(err)
			}
			return r, time.Since(start)
		}
		start := time.Now()
		if _, err := Load(context.Background(), spec("linuxkit-shaped.yml")); err != nil {
			b.Fatal(err)
		}
		load := time.Since(start)
		r, cold := run("linuxkit-shaped.yml")
		_, warm := run("linuxkit-shaped.yml")
		changed, rebuild := run("linuxkit-shaped-changed.yml")
		b.ReportMetric(cold.Seconds(), "cold-s")
		b.ReportMetric(warm.Seconds(), "warm-s")
		b.ReportMetric(rebuild.Seconds(), "rebuild-s")
		b.ReportMetric(load.Seconds(), "spec+tags-s")
		var total int64
		for _, s := range r.Segments {
			total += s.Size
			b.Logf("segment %-20s %10d bytes", s.What, s.Size)
		}
		b.Logf("initrd total         %10d bytes", total)
		for _, s := range changed.Segments {
			if !s.Reused {
				b.Logf("rebuild re-did: %s", s.What)
			}
		}
	}
}
