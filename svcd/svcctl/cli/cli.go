// Package cli is svcctl, the command that talks to svcd inside a Keel
// system: list and inspect containers, start and stop services, read logs
// and events, show the boot timeline and resource use, power off, reboot or
// halt. It is a package so that the multi-call system binary can hold it.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/keel-os/keel/internal/layout"
	"github.com/keel-os/keel/svcd/api"
)

const usage = `usage: svcctl [--socket PATH] [--json] COMMAND [ARGS]

commands:
  list                 every container: name, phase, state, health, pid, uptime, restarts, image
  status NAME          one container in detail (exit 0 running, 5 not running)
  start|stop|restart NAME
                       control a service (stop: stop signal, then SIGKILL after its timeout)
  logs NAME [-f] [--tail N] [--since D]
                       the captured output of a container, with time and stream
  events               stream state changes as they happen
  boot                 the boot timeline: init's steps and svcd's, in guest boot time
  stats NAME           cpu, memory and pids of a running container (cgroup v2)
  dmesg [--tail N]     the kernel log, like dmesg
  poweroff|reboot|halt stop all services and power off, reboot or halt

exit codes: 0 ok, 1 svcd refused or failed, 2 usage, 3 no such container,
4 wrong state (already running, not running), 5 status: not running,
69 svcd unreachable
`

// Exit codes.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitNotFound    = 3
	exitConflict    = 4
	exitNotRunning  = 5
	exitUnreachable = 69
)

// Main runs svcctl with the command-line arguments args (without the
// program name) and returns its exit status.
func Main(args []string) int { return run(args, os.Stdout, os.Stderr) }

// nargs is how many positional arguments each command takes.
var nargs = map[string]int{
	"list": 0, "status": 1, "start": 1, "stop": 1, "restart": 1, "logs": 1,
	"events": 0, "boot": 0, "stats": 1, "dmesg": 0, "poweroff": 0, "reboot": 0, "halt": 0,
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("svcctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	socket := fs.String("socket", layout.SvcdSocket, "svcd API socket `path`")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	n, ok := nargs[cmd]
	if !ok {
		fmt.Fprintf(stderr, "svcctl: unknown command %q\n", cmd)
		fs.Usage()
		return exitUsage
	}
	// Flags may follow the command (svcctl logs web -f --tail 5).
	sub := flag.NewFlagSet(cmd, flag.ContinueOnError)
	sub.SetOutput(stderr)
	follow := sub.Bool("f", false, "keep printing new lines")
	tail := sub.Int("tail", -1, "only the last `N` lines")
	since := sub.Duration("since", 0, "only lines newer than `D` (e.g. 10m)")
	subJSON := sub.Bool("json", false, "print JSON")
	var pos []string
	for len(rest) > 0 {
		if err := sub.Parse(rest); err != nil {
			return exitUsage
		}
		if sub.NArg() == 0 {
			break
		}
		pos = append(pos, sub.Arg(0))
		rest = sub.Args()[1:]
	}
	*asJSON = *asJSON || *subJSON
	if len(pos) != n {
		fmt.Fprintf(stderr, "svcctl: %s takes %d argument(s), got %d\n", cmd, n, len(pos))
		fs.Usage()
		return exitUsage
	}
	c := api.NewClient(*socket)
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	if cmd != "events" && !(cmd == "logs" && *follow) {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, 60*time.Second)
		defer c2()
	}
	p := printer{w: stdout, json: *asJSON}
	code, err := dispatch(ctx, c, p, cmd, pos, api.LogQuery{Tail: *tail, Since: *since}, *follow)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return exitOK
		}
		fmt.Fprintf(stderr, "svcctl: %v\n", err)
		return errCode(err)
	}
	return code
}

func errCode(err error) int {
	var se *api.StatusError
	switch {
	case errors.Is(err, api.ErrUnreachable):
		return exitUnreachable
	case errors.As(err, &se) && se.Code == http.StatusNotFound:
		return exitNotFound
	case errors.As(err, &se) && se.Code == http.StatusConflict:
		return exitConflict
	}
	return exitFailed
}

func dispatch(ctx context.Context, c *api.Client, p printer, cmd string, pos []string, q api.LogQuery, follow bool) (int, error) {
	switch cmd {
	case "list":
		cs, err := c.Containers(ctx)
		if err != nil {
			return 0, err
		}
		return exitOK, p.list(cs, time.Now())
	case "status":
		x, err := c.Container(ctx, pos[0])
		if err != nil {
			return 0, err
		}
		if err := p.status(x, time.Now()); err != nil {
			return 0, err
		}
		if x.State != "running" {
			return exitNotRunning, nil
		}
		return exitOK, nil
	case "start":
		return exitOK, c.Start(ctx, pos[0])
	case "stop":
		return exitOK, c.Stop(ctx, pos[0])
	case "restart":
		return exitOK, c.Restart(ctx, pos[0])
	case "logs":
		if follow {
			return exitOK, c.FollowLogs(ctx, pos[0], q, p.logLine)
		}
		l, err := c.LogsQuery(ctx, pos[0], q)
		if err != nil {
			return 0, err
		}
		for _, line := range l.Lines {
			if err := p.logLine(line); err != nil {
				return 0, err
			}
		}
		return exitOK, nil
	case "events":
		return exitOK, c.Events(ctx, p.event)
	case "boot":
		b, err := c.Boot(ctx)
		if err != nil {
			return 0, err
		}
		return exitOK, p.boot(b)
	case "stats":
		st, err := c.Stats(ctx, pos[0])
		if err != nil {
			return 0, err
		}
		return exitOK, p.stats(st)
	case "dmesg":
		recs, err := c.Dmesg(ctx)
		if err != nil {
			return 0, err
		}
		if q.Tail >= 0 && len(recs) > q.Tail {
			recs = recs[len(recs)-q.Tail:]
		}
		return exitOK, p.dmesg(recs)
	case "poweroff":
		return exitOK, c.Poweroff(ctx)
	case "reboot":
		return exitOK, c.Reboot(ctx)
	case "halt":
		return exitOK, c.Halt(ctx)
	}
	return exitUsage, fmt.Errorf("unknown command %q", cmd)
}

// printer writes text or, with --json, one JSON value (a JSON line per
// item when streaming).
type printer struct {
	w    io.Writer
	json bool
}

func (p printer) encode(v any) error { return json.NewEncoder(p.w).Encode(v) }

func (p printer) logLine(l api.LogLine) error {
	if p.json {
		return p.encode(l)
	}
	_, err := fmt.Fprintf(p.w, "%s %-6s %s\n", l.Time.Format("2006-01-02T15:04:05.000Z07:00"), l.Stream, l.Text)
	return err
}

func (p printer) event(e api.Event) error {
	if p.json {
		return p.encode(e)
	}
	line := fmt.Sprintf("%s %s %s", e.Time.Format("15:04:05.000"), e.Name, e.State)
	if e.Health != "" {
		line += " health=" + e.Health
	}
	if e.Pid > 0 {
		line += " pid=" + strconv.Itoa(e.Pid)
	}
	if e.ExitCode != nil {
		line += " exit=" + strconv.Itoa(*e.ExitCode)
	}
	if e.OOMKilled {
		line += " oom-killed"
	}
	if e.Error != "" {
		line += " error=" + strconv.Quote(e.Error)
	}
	_, err := fmt.Fprintln(p.w, line)
	return err
}
