package qemutest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/keel-os/keel/svcd/api"
)

// BenchData is what qemu-test/benchcheck prints after "BENCH-DATA ".
type BenchData struct {
	Boot           *api.Boot      `json:"boot"`
	MemTotalKB     int64          `json:"memTotalKB"`
	MemAvailableKB int64          `json:"memAvailableKB"`
	RSSKB          map[string]int `json:"rssKB"`
	AnonKB         map[string]int `json:"anonKB"` // RssAnon of the same processes
	Shims          int            `json:"shims"`  // containerd-shim-runc-v2 processes ("shims" in the maps: their sum)
	// BusyMs is the guest's CPU time spent not idle, over all CPUs, since
	// the kernel started; UptimeMs the time since; CPUs their number.
	BusyMs   int64 `json:"busyMs"`
	UptimeMs int64 `json:"uptimeMs"`
	CPUs     int   `json:"cpus"`
	// CPUMs is the CPU time of init, svcd, containerd and the shims, each
	// with its reaped children's.
	CPUMs map[string]int64 `json:"cpuMs"`
}

// Phases are the boot's stages on the guest's boot clock, in seconds from
// the kernel's start.
type Phases struct {
	Init            float64 `json:"init"`            // init's first step
	Svcd            float64 `json:"svcd"`            // init starts svcd
	ContainerdReady float64 `json:"containerdReady"` // containerd answers
	ServicesReady   float64 `json:"servicesReady"`   // every service running (and healthy)
}

// GuestPhases reads the phases from a boot timeline. self (the reporting
// service) is left out of "every service".
func GuestPhases(b *api.Boot, self string) (Phases, error) {
	var p Phases
	if b == nil || b.Init == nil || len(b.Init.Steps) == 0 {
		return p, fmt.Errorf("the boot timeline has no init steps")
	}
	p.Init = math.Inf(1)
	for _, s := range b.Init.Steps {
		p.Init = math.Min(p.Init, sec(s.StartNS))
		if s.Name == "svcd" {
			p.Svcd = sec(s.StartNS)
		}
	}
	ready := map[string]float64{}
	healthChecked := map[string]bool{}
	for _, e := range b.Events {
		if e.Health != "" {
			healthChecked[e.Name] = true
		}
	}
	for _, e := range b.Events {
		switch {
		case e.Name == "containerd" && e.State == "running" && p.ContainerdReady == 0:
			p.ContainerdReady = sec(e.BootNS)
		case e.Phase != "service" || e.Name == self:
		case healthChecked[e.Name] && e.Health == "healthy":
			if _, seen := ready[e.Name]; !seen {
				ready[e.Name] = sec(e.BootNS)
			}
		case !healthChecked[e.Name] && e.State == "running":
			if _, seen := ready[e.Name]; !seen {
				ready[e.Name] = sec(e.BootNS)
			}
		}
	}
	for _, t := range ready {
		p.ServicesReady = math.Max(p.ServicesReady, t)
	}
	switch {
	case p.Svcd == 0:
		return p, fmt.Errorf("init's steps have no svcd step")
	case p.ContainerdReady == 0:
		return p, fmt.Errorf("no event says containerd is running")
	case len(ready) == 0:
		return p, fmt.Errorf("no service became ready")
	}
	return p, nil
}

func sec(ns int64) float64 { return float64(ns) / 1e9 }

var floorRe = regexp.MustCompile(`floor: pid1 median ([0-9.]+|nan)s, exit median ([0-9.]+)s`)

// ParseFloor reads boot-floor's summary line: the median seconds from
// QEMU's start to the floor PID 1's line and to QEMU's exit.
func ParseFloor(out string) (pid1, exit float64, err error) {
	m := floorRe.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("no \"floor: pid1 median ...\" line in boot-floor's output")
	}
	pid1, _ = strconv.ParseFloat(m[1], 64) // "nan" parses as NaN
	exit, err = strconv.ParseFloat(m[2], 64)
	return pid1, exit, err
}

// ParseBenchMetrics reads the custom metrics of benchmark name from `go
// test -bench` output: "BenchmarkName-2  1  123 ns/op  4.5 cold-s ...".
func ParseBenchMetrics(out, name string) map[string]float64 {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || !strings.HasPrefix(f[0], "Benchmark"+name) {
			continue
		}
		m := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			if v, err := strconv.ParseFloat(f[i], 64); err == nil {
				m[f[i+1]] = v
			}
		}
		return m
	}
	return nil
}

// BenchRow is one line of the report.
type BenchRow struct {
	What  string  `json:"what"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Floor is Value divided by the bare-kernel floor, for boot times.
	Floor float64 `json:"xFloor,omitempty"`
}

// Markdown renders rows as a table.
func Markdown(rows []BenchRow) string {
	var b strings.Builder
	b.WriteString("| what | value | × floor |\n|---|---:|---:|\n")
	for _, r := range rows {
		x := ""
		if r.Floor != 0 && !math.IsNaN(r.Floor) && !math.IsInf(r.Floor, 0) {
			x = fmt.Sprintf("%.1f×", r.Floor)
		}
		fmt.Fprintf(&b, "| %s | %s %s | %s |\n", r.What, strconv.FormatFloat(r.Value, 'f', -1, 64), r.Unit, x)
	}
	return b.String()
}

// JSON renders rows for machines.
func JSON(rows []BenchRow) ([]byte, error) { return json.MarshalIndent(rows, "", "  ") }

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// median of xs (xs is not modified).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
