package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/keel-os/keel/internal/layout"
	"github.com/keel-os/keel/svcd/api"
)

// LogreadMain is `logread`, for people used to LinuxKit's memlogd: every
// container's captured output (or the named ones'), merged in time order,
// one line each as "TIME NAME.STREAM TEXT". -f follows after the dump, -F
// follows without it, -n keeps the last N lines of the dump. It reads the
// same logs as `svcctl logs`.
func LogreadMain(args []string) int { return logread(args, os.Stdout, os.Stderr) }

func logread(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("logread", flag.ContinueOnError)
	fs.SetOutput(stderr)
	socket := fs.String("socket", layout.SvcdSocket, "svcd API socket `path`")
	follow := fs.Bool("f", false, "print the logs, then follow them")
	followOnly := fs.Bool("F", false, "follow the logs without printing what is there")
	last := fs.Int("n", -1, "print only the last `N` lines")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: logread [-f|-F] [-n N] [NAME...]  (every container's output, or NAME's, in time order)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	c := api.NewClient(*socket)
	names := fs.Args()
	if len(names) == 0 {
		all, err := c.Containers(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "logread: %v\n", err)
			return errCode(err)
		}
		for _, ct := range all {
			names = append(names, ct.Name)
		}
	}
	if !*followOnly {
		if err := dumpMerged(ctx, c, names, *last, stdout); err != nil {
			fmt.Fprintf(stderr, "logread: %v\n", err)
			return errCode(err)
		}
	}
	if !*follow && !*followOnly {
		return exitOK
	}
	if err := followMerged(ctx, c, names, stdout); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(stderr, "logread: %v\n", err)
		return errCode(err)
	}
	return exitOK
}

type namedLine struct {
	name string
	api.LogLine
}

func (l namedLine) String() string {
	return fmt.Sprintf("%s %s.%s %s", l.Time.UTC().Format(time.RFC3339Nano), l.name, l.Stream, l.Text)
}

// dumpMerged prints the named containers' lines sorted by time (stable, so
// one container's lines keep their order), the last n when n >= 0.
func dumpMerged(ctx context.Context, c *api.Client, names []string, n int, w io.Writer) error {
	var lines []namedLine
	for _, name := range names {
		l, err := c.LogsQuery(ctx, name, api.LogQuery{Tail: n})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		for _, line := range l.Lines {
			lines = append(lines, namedLine{name, line})
		}
	}
	slices.SortStableFunc(lines, func(a, b namedLine) int { return a.Time.Compare(b.Time) })
	if n >= 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

// followMerged prints new lines of every named container as they come,
// until ctx ends or every follow has.
func followMerged(ctx context.Context, c *api.Client, names []string, w io.Writer) error {
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(names))
	for _, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Tail 0: only lines that come after now.
			errs <- c.FollowLogs(ctx, name, api.LogQuery{Tail: 0}, func(l api.LogLine) error {
				mu.Lock()
				defer mu.Unlock()
				_, err := fmt.Fprintln(w, namedLine{name, l})
				return err
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
