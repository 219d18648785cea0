package qemutest

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// BenchmarkBootMinimal boots examples/minimal.yml with the check service and
// reports, per boot, the wall time from QEMU's start to each phase (init's
// first line, svcd's containerd ready, every service running) and to QEMU's
// exit after the clean power-off. Compare with ../shared/tools/boot-floor run
// in the same session: `make bench` does both.
func BenchmarkBootMinimal(b *testing.B) {
	for _, comp := range []string{"gzip", "lz4"} {
		b.Run(comp, func(b *testing.B) {
			benchBoot(b, buildImageC(b, comp, "examples/minimal.yml", "qemu-test/testdata/check.yml"))
		})
	}
}

func benchBoot(b *testing.B, prefix string) {
	phases := []struct {
		metric string
		re     *regexp.Regexp
	}{
		{"s-init", regexp.MustCompile(`^init: `)},
		{"s-containerd-ready", regexp.MustCompile(`svcd: containerd ready`)},
		{"s-services-running", regexp.MustCompile(`svcd: all services started`)},
		{"s-check-ok", regexp.MustCompile(`KEEL-CHECK-OK`)},
	}
	sums := make([]time.Duration, len(phases))
	var exit time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
		c, err := Boot(ctx, &run.QEMU{Prefix: prefix, Mem: 1024, KVM: "auto"})
		if err != nil {
			b.Fatal(err)
		}
		for j, p := range phases {
			_, at, err := c.Expect(ctx, 0, p.re)
			if err != nil {
				c.Kill()
				b.Fatalf("%s: %v\n%s", p.metric, err, c.Tail(40))
			}
			sums[j] += at
		}
		if err := c.Wait(ctx); err != nil {
			b.Fatalf("qemu: %v\n%s", err, c.Tail(40))
		}
		exit += c.Elapsed()
		cancel()
	}
	for j, p := range phases {
		b.ReportMetric((sums[j] / time.Duration(b.N)).Seconds(), p.metric)
	}
	b.ReportMetric((exit / time.Duration(b.N)).Seconds(), "s-qemu-exit")
	b.ReportMetric(0, "ns/op")
}
