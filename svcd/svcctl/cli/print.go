package cli

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/keel-os/keel/svcd/api"
)

// list prints NAME PHASE STATE first: tests and scripts read those three
// columns by position.
func (p printer) list(cs []api.Container, now time.Time) error {
	if p.json {
		return p.encode(cs)
	}
	tw := tabwriter.NewWriter(p.w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPHASE\tSTATE\tHEALTH\tPID\tUPTIME\tEXIT\tRESTARTS\tIMAGE")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", c.Name, c.Phase, c.State, dash(c.Health),
			pid(c.Pid), uptime(c, now), lastExit(c, "(oom)"), c.Restarts, dash(c.Image))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func pid(p int) string {
	if p <= 0 {
		return "-"
	}
	return strconv.Itoa(p)
}

func exit(c *int) string {
	if c == nil {
		return "-"
	}
	return strconv.Itoa(*c)
}

// lastExit is the last exit code, with mark added when the OOM killer
// ended that run: a bare 137 would not say why.
func lastExit(c api.Container, mark string) string {
	if c.OOMKilled && c.ExitCode != nil {
		return exit(c.ExitCode) + mark
	}
	return exit(c.ExitCode)
}

func uptime(c api.Container, now time.Time) string {
	if c.State != "running" || c.StartedAt == nil {
		return "-"
	}
	return now.Sub(*c.StartedAt).Truncate(time.Second).String()
}

func (p printer) status(c *api.Container, now time.Time) error {
	if p.json {
		return p.encode(c)
	}
	tw := tabwriter.NewWriter(p.w, 0, 8, 1, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Name", c.Name)
	row("Phase", c.Phase)
	row("State", c.State)
	row("Health", dash(c.Health))
	row("Pid", pid(c.Pid))
	row("Uptime", uptime(*c, now))
	row("Last exit", lastExit(*c, " (oom-killed)"))
	row("Restarts", strconv.Itoa(c.Restarts))
	if c.NextStart != nil {
		row("Next start", fmt.Sprintf("%s (in %s)", c.NextStart.Format(time.RFC3339), c.NextStart.Sub(now).Round(100*time.Millisecond)))
	}
	row("Restart", dash(c.Restart))
	row("Depends on", dash(strings.Join(c.DependsOn, ", ")))
	row("Image", dash(c.Image))
	if c.Error != "" {
		row("Error", c.Error)
	}
	return tw.Flush()
}

func (p printer) stats(s *api.Stats) error {
	if p.json {
		return p.encode(s)
	}
	_, err := fmt.Fprintf(p.w, "NAME\tCPU\tMEMORY\tPIDS\n%s\t%s\t%.1fMiB\t%d\n", s.Name,
		(time.Duration(s.CPUUsec) * time.Microsecond).String(), float64(s.MemoryBytes)/(1<<20), s.Pids)
	return err
}

// bootEvent is one row of the boot timeline.
type bootEvent struct {
	AtNS  int64  `json:"atNs"`
	DurNS int64  `json:"durationNs,omitempty"`
	What  string `json:"what"`
	Note  string `json:"note,omitempty"`
}

// timeline merges init's steps and svcd's boot events in CLOCK_BOOTTIME
// order, keeping the events that say when something started, was ready or
// ended.
func timeline(b *api.Boot) []bootEvent {
	var out []bootEvent
	if b.Init != nil {
		for _, s := range b.Init.Steps {
			out = append(out, bootEvent{AtNS: s.StartNS, DurNS: s.DurationNS, What: "init: " + s.Name, Note: s.Error})
		}
	}
	for _, e := range b.Events {
		var what string
		switch {
		case e.State == "running" && e.Health == "":
			what = fmt.Sprintf("%s %s started", e.Phase, e.Name)
		case e.Health == "healthy":
			what = fmt.Sprintf("%s %s healthy", e.Phase, e.Name)
		case e.State == "exited" || e.State == "failed":
			what = fmt.Sprintf("%s %s %s %s", e.Phase, e.Name, e.State, exit(e.ExitCode))
		case e.State == "ready" || e.State == "all-started":
			what = fmt.Sprintf("%s %s", e.Name, e.State)
		default:
			continue
		}
		out = append(out, bootEvent{AtNS: e.BootNS, What: what, Note: e.Error})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].AtNS < out[j].AtNS })
	return out
}

func (p printer) boot(b *api.Boot) error {
	tl := timeline(b)
	if p.json {
		return p.encode(tl)
	}
	if b.InitError != "" {
		fmt.Fprintf(p.w, "(init's boot log: %s)\n", b.InitError)
	}
	tw := tabwriter.NewWriter(p.w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tTOOK\tWHAT")
	for _, e := range tl {
		took := "-"
		if e.DurNS > 0 {
			took = fmt.Sprintf("%.1fms", float64(e.DurNS)/1e6)
		}
		line := fmt.Sprintf("%.3fs\t%s\t%s", float64(e.AtNS)/1e9, took, e.What)
		if e.Note != "" {
			line += " (" + e.Note + ")"
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// dmesg prints kernel records as dmesg does: "[seconds.micros] text".
func (p printer) dmesg(recs []api.KmsgRecord) error {
	if p.json {
		return p.encode(recs)
	}
	for _, r := range recs {
		if _, err := fmt.Fprintf(p.w, "[%5d.%06d] %s\n", r.BootUS/1e6, r.BootUS%1e6, r.Text); err != nil {
			return err
		}
	}
	return nil
}
