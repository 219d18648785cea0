package metadata

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// Env is where the agent reads and writes; tests point it at temp dirs.
type Env struct {
	ConfigDir  string // /run/config
	VarDir     string // /var
	SysBlock   string // /sys/class/block
	DevDir     string // /dev
	FwCfgDir   string // /sys/firmware/qemu_fw_cfg/by_name/opt/keel
	MountDir   string // /tmp
	LoadModule func(name string) error
	// SetHostname applies the hostname (nil: do not).
	SetHostname func(string) error
}

// DefaultEnv is the real system's.
func DefaultEnv() Env {
	return Env{
		ConfigDir: "/run/config", VarDir: "/var", SysBlock: "/sys/class/block", DevDir: "/dev",
		FwCfgDir: "/sys/firmware/qemu_fw_cfg/by_name/opt/keel", MountDir: "/tmp",
	}
}

// Selection reads keel.metadata=NAME[=ARG][,NAME...] from a kernel command
// line; "" when absent.
func Selection(cmdline string) string {
	sel := ""
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, "keel.metadata="); ok {
			sel = v
		}
	}
	return sel
}

// Providers builds the providers a selection names ("" or "auto": all, in
// preference order).
func Providers(sel string, env Env, lim Limits, log func(string, ...any)) ([]Provider, error) {
	var specs []string
	if sel == "" || sel == "auto" {
		specs = Names
	} else {
		specs = strings.Split(sel, ",")
	}
	var out []Provider
	for _, s := range specs {
		name, arg, _ := strings.Cut(strings.TrimSpace(s), "=")
		p, err := New(name, arg, env, lim, log)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Run is the whole agent: choose a provider, fetch, write /run/config (and
// /var files), apply the hostname. Problems with the data are logged and
// skipped; only an unusable system (nothing written) is an error.
func Run(ctx context.Context, providers []Provider, env Env, lim Limits, t Timing, log func(string, ...any)) error {
	start := time.Now()
	c := &Chooser{Providers: providers, Timing: t, Log: log}
	var p Provider
	if len(providers) == 1 {
		p = providers[0]
		r := c.probe(ctx, p)
		if r.Err != nil {
			return fmt.Errorf("metadata provider %s (chosen explicitly): %w", p.Name(), r.Err)
		}
	} else {
		var s Strength
		var err error
		if p, s, err = c.Choose(ctx); err != nil {
			return err
		}
		log("chose %s (%s answer)", p.Name(), s)
	}
	probed := time.Since(start)
	d, err := c.Fetch(ctx, p)
	if err != nil {
		return err
	}
	plan := MakePlan(d, lim)
	for _, n := range plan.Notes {
		log("%s", n)
	}
	notes, err := WriteConfig(env.ConfigDir, plan.Config)
	for _, n := range notes {
		log("%s", n)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", env.ConfigDir, err)
	}
	if len(plan.Var) > 0 {
		notes, err := WriteInto(env.VarDir, plan.Var)
		for _, n := range notes {
			log("%s: %s", env.VarDir, n)
		}
		if err != nil {
			log("writing files under %s: %v", env.VarDir, err)
		}
	}
	if plan.Hostname != "" && env.SetHostname != nil {
		if err := env.SetHostname(plan.Hostname); err != nil {
			log("setting hostname %s: %v", plan.Hostname, err)
		} else {
			log("hostname %s", plan.Hostname)
		}
	}
	if r, ok := p.(ReadyReporter); ok {
		// The instance is configured: say so to a cloud that waits for it.
		// A failure is logged, not returned: the system itself is fine.
		if err := reportReady(ctx, r, t); err != nil {
			log("%s: reporting ready: %v", p.Name(), err)
		} else {
			log("%s: reported ready", p.Name())
		}
	}
	log("provider %s: probe %s, total %s; wrote %d entries to %s",
		p.Name(), probed.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), len(plan.Config), env.ConfigDir)
	return nil
}

// ReadCmdline returns /proc/cmdline ("" if unreadable).
func ReadCmdline() string {
	b, _ := os.ReadFile("/proc/cmdline")
	return string(b)
}
