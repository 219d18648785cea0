package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/keel-os/keel/svcd/api"
)

// command is one svcctl command: the one place that says what it is
// called, what it takes and what it does. The usage text, the argument
// check and the dispatch are all read from the table below.
type command struct {
	name string
	// args names the positional arguments in the usage text; nargs is
	// how many there must be.
	args  string
	nargs int
	// flags are the flags the command takes after its name, in the
	// order the usage text lists them.
	flags []cmdFlag
	help  string
	// streams says the command runs until interrupted (no timeout).
	streams func(o options) bool
	run     func(ctx context.Context, e env) (int, error)
}

// options are the values of every command's flags.
type options struct {
	json   bool
	follow bool
	tail   int
	since  time.Duration
}

// env is what a command runs with.
type env struct {
	c    *api.Client
	p    printer
	args []string
	o    options
}

// cmdFlag is one flag a command may take.
type cmdFlag struct {
	name string
	// arg names the flag's value in the usage text; empty for a boolean.
	arg string
	// hidden leaves the flag out of the command's line in the usage text
	// (--json, which the first line already shows).
	hidden bool
	define func(fs *flag.FlagSet, o *options)
}

var (
	jsonFlag = cmdFlag{name: "json", hidden: true, define: func(fs *flag.FlagSet, o *options) {
		// Given before the command too: either sets it.
		fs.BoolFunc("json", "print JSON", func(v string) error {
			b, err := strconv.ParseBool(v)
			o.json = o.json || b
			return err
		})
	}}
	followFlag = cmdFlag{name: "f", define: func(fs *flag.FlagSet, o *options) {
		fs.BoolVar(&o.follow, "f", false, "keep printing new lines")
	}}
	tailFlag = cmdFlag{name: "tail", arg: "N", define: func(fs *flag.FlagSet, o *options) {
		fs.IntVar(&o.tail, "tail", -1, "only the last `N` lines")
	}}
	sinceFlag = cmdFlag{name: "since", arg: "D", define: func(fs *flag.FlagSet, o *options) {
		fs.DurationVar(&o.since, "since", 0, "only lines newer than `D` (e.g. 10m)")
	}}
)

// commands lists every command in the order of the usage text. Adjacent
// commands with the same arguments and help share one usage line.
var commands = []command{
	{name: "list", flags: []cmdFlag{jsonFlag},
		help: "every container: name, phase, state, health, pid, uptime, restarts, image",
		run: func(ctx context.Context, e env) (int, error) {
			cs, err := e.c.Containers(ctx)
			if err != nil {
				return 0, err
			}
			return exitOK, e.p.list(cs, time.Now())
		}},
	{name: "status", args: "NAME", nargs: 1, flags: []cmdFlag{jsonFlag},
		help: "one container in detail (exit 0 running, 5 not running)",
		run: func(ctx context.Context, e env) (int, error) {
			x, err := e.c.Container(ctx, e.args[0])
			if err != nil {
				return 0, err
			}
			if err := e.p.status(x, time.Now()); err != nil {
				return 0, err
			}
			if x.State != "running" {
				return exitNotRunning, nil
			}
			return exitOK, nil
		}},
	control("start", (*api.Client).Start),
	control("stop", (*api.Client).Stop),
	control("restart", (*api.Client).Restart),
	{name: "logs", args: "NAME", nargs: 1, flags: []cmdFlag{followFlag, tailFlag, sinceFlag, jsonFlag},
		help:    "the captured output of a container, with time and stream",
		streams: func(o options) bool { return o.follow },
		run: func(ctx context.Context, e env) (int, error) {
			q := api.LogQuery{Tail: e.o.tail, Since: e.o.since}
			if e.o.follow {
				return exitOK, e.c.FollowLogs(ctx, e.args[0], q, e.p.logLine)
			}
			l, err := e.c.LogsQuery(ctx, e.args[0], q)
			if err != nil {
				return 0, err
			}
			for _, line := range l.Lines {
				if err := e.p.logLine(line); err != nil {
					return 0, err
				}
			}
			return exitOK, nil
		}},
	{name: "events", flags: []cmdFlag{jsonFlag},
		help:    "stream state changes as they happen",
		streams: func(options) bool { return true },
		run: func(ctx context.Context, e env) (int, error) {
			return exitOK, e.c.Events(ctx, e.p.event)
		}},
	{name: "boot", flags: []cmdFlag{jsonFlag},
		help: "the boot timeline: init's steps and svcd's, in guest boot time",
		run: func(ctx context.Context, e env) (int, error) {
			b, err := e.c.Boot(ctx)
			if err != nil {
				return 0, err
			}
			return exitOK, e.p.boot(b)
		}},
	{name: "stats", args: "NAME", nargs: 1, flags: []cmdFlag{jsonFlag},
		help: "cpu, memory and pids of a running container (cgroup v2)",
		run: func(ctx context.Context, e env) (int, error) {
			st, err := e.c.Stats(ctx, e.args[0])
			if err != nil {
				return 0, err
			}
			return exitOK, e.p.stats(st)
		}},
	{name: "dmesg", flags: []cmdFlag{tailFlag, jsonFlag},
		help: "the kernel log, like dmesg",
		run: func(ctx context.Context, e env) (int, error) {
			recs, err := e.c.Dmesg(ctx)
			if err != nil {
				return 0, err
			}
			if e.o.tail >= 0 && len(recs) > e.o.tail {
				recs = recs[len(recs)-e.o.tail:]
			}
			return exitOK, e.p.dmesg(recs)
		}},
	power("poweroff", (*api.Client).Poweroff),
	power("reboot", (*api.Client).Reboot),
	power("halt", (*api.Client).Halt),
}

// control is a command that acts on one service and prints nothing.
func control(name string, do func(*api.Client, context.Context, string) error) command {
	return command{name: name, args: "NAME", nargs: 1,
		help: "control a service (stop: stop signal, then SIGKILL after its timeout)",
		run: func(ctx context.Context, e env) (int, error) {
			return exitOK, do(e.c, ctx, e.args[0])
		}}
}

// power is a command that ends the system.
func power(name string, do func(*api.Client, context.Context) error) command {
	return command{name: name,
		help: "stop all services and power off, reboot or halt",
		run: func(ctx context.Context, e env) (int, error) {
			return exitOK, do(e.c, ctx)
		}}
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// parse reads the command's arguments into o and returns the positional
// ones (flag.ErrHelp for -h). Flags may come before, between or after them (svcctl logs web -f
// --tail 5); a flag the command does not take is a usage error.
func (cmd *command) parse(args []string, o *options) ([]string, error) {
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	// The caller reports the error and the usage text, which lists every
	// command's flags.
	fs.SetOutput(io.Discard)
	o.tail = -1
	for _, f := range cmd.flags {
		f.define(fs, o)
	}
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return nil, err
			}
			return nil, fmt.Errorf("%s: %w", cmd.name, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != cmd.nargs {
		return nil, fmt.Errorf("%s takes %d argument(s), got %d", cmd.name, cmd.nargs, len(pos))
	}
	return pos, nil
}

// synopsis is the command's line in the usage text without its name.
func (cmd *command) synopsis() string {
	var b strings.Builder
	if cmd.args != "" {
		b.WriteString(" " + cmd.args)
	}
	for _, f := range cmd.flags {
		if f.hidden {
			continue
		}
		dash := "--"
		if len(f.name) == 1 {
			dash = "-"
		}
		if f.arg == "" {
			fmt.Fprintf(&b, " [%s%s]", dash, f.name)
		} else {
			fmt.Fprintf(&b, " [%s%s %s]", dash, f.name, f.arg)
		}
	}
	return b.String()
}

// usage is svcctl's usage text, made from the table of commands.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: svcctl [--socket PATH] [--json] COMMAND [ARGS]\n\ncommands:\n")
	const col = 21 // where the help starts
	for i := 0; i < len(commands); {
		c := commands[i]
		names := []string{c.name}
		j := i + 1
		for ; j < len(commands) && commands[j].help == c.help && commands[j].synopsis() == c.synopsis(); j++ {
			names = append(names, commands[j].name)
		}
		i = j
		line := strings.Join(names, "|") + c.synopsis()
		if len(line) < col {
			fmt.Fprintf(&b, "  %-*s%s\n", col, line, c.help)
		} else {
			fmt.Fprintf(&b, "  %s\n  %-*s%s\n", line, col, "", c.help)
		}
	}
	b.WriteString(usageTail)
	return b.String()
}
