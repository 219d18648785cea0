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

// usageTail follows the table of commands in the usage text.
const usageTail = `
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

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("svcctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage()); fs.PrintDefaults() }
	socket := fs.String("socket", layout.SvcdSocket, "svcd API socket `path`")
	var o options
	fs.BoolVar(&o.json, "json", false, "print JSON instead of text")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	name := fs.Arg(0)
	cmd := lookup(name)
	if cmd == nil {
		fmt.Fprintf(stderr, "svcctl: unknown command %q\n", name)
		fs.Usage()
		return exitUsage
	}
	pos, err := cmd.parse(fs.Args()[1:], &o)
	if err != nil {
		if err != flag.ErrHelp {
			fmt.Fprintf(stderr, "svcctl: %v\n", err)
		}
		fs.Usage()
		return exitUsage
	}
	c := api.NewClient(*socket)
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	if cmd.streams == nil || !cmd.streams(o) {
		var c2 context.CancelFunc
		ctx, c2 = context.WithTimeout(ctx, 60*time.Second)
		defer c2()
	}
	code, err := cmd.run(ctx, env{c: c, p: printer{w: stdout, json: o.json}, args: pos, o: o})
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
