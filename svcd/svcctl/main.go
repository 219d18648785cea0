// Command svcctl talks to svcd inside a Keel system: list containers, show
// a container's logs, power off or reboot.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/keel-os/keel/internal/layout"
	"github.com/keel-os/keel/svcd/api"
)

const usage = `usage: svcctl [--socket PATH] COMMAND

commands:
  list          show every container, its state, pid, exit code and restarts
  logs NAME     show the recent output of container NAME
  poweroff      stop all services and power the machine off
  reboot        stop all services and reboot the machine
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("svcctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	socket := fs.String("socket", layout.SvcdSocket, "svcd API socket `path`")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	c := api.NewClient(*socket)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	want := map[string]int{"list": 0, "logs": 1, "poweroff": 0, "reboot": 0}
	n, ok := want[cmd]
	if !ok {
		fmt.Fprintf(stderr, "svcctl: unknown command %q\n", cmd)
		fs.Usage()
		return 2
	}
	if len(rest) != n {
		fmt.Fprintf(stderr, "svcctl: %s takes %d argument(s), got %d\n", cmd, n, len(rest))
		fs.Usage()
		return 2
	}
	var err error
	switch cmd {
	case "list":
		var cs []api.Container
		if cs, err = c.Containers(ctx); err == nil {
			err = printList(stdout, cs)
		}
	case "logs":
		var l *api.Logs
		if l, err = c.Logs(ctx, rest[0]); err == nil {
			for _, line := range l.Lines {
				fmt.Fprintln(stdout, line.Text)
			}
		}
	case "poweroff":
		err = c.Poweroff(ctx)
	case "reboot":
		err = c.Reboot(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "svcctl: %v\n", err)
		return 1
	}
	return 0
}

func printList(w io.Writer, cs []api.Container) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPHASE\tSTATE\tPID\tEXIT\tRESTARTS")
	for _, c := range cs {
		pid, exit := "-", "-"
		if c.Pid > 0 {
			pid = strconv.Itoa(c.Pid)
		}
		if c.ExitCode != nil {
			exit = strconv.Itoa(*c.ExitCode)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", c.Name, c.Phase, c.State, pid, exit, c.Restarts)
	}
	return tw.Flush()
}
