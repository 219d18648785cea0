// Command ntp sets the system clock from an NTP server (SNTP: one query,
// no clock discipline), once with -1 or at every -interval as a service.
// Servers are the arguments, or NTP_SERVER (comma- or space-separated);
// the first that gives a valid answer wins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/beevik/ntp"
	"golang.org/x/sys/unix"
)

// Options are the command line's settings.
type Options struct {
	Servers   []string
	Oneshot   bool
	Interval  time.Duration
	Timeout   time.Duration
	Threshold time.Duration
}

func parseArgs(args []string, getenv func(string) string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("ntp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: ntp [-1] [-interval D] [-timeout D] [-threshold D] [SERVER[:PORT]...]\n\n"+
			"Sets the clock from the first SERVER that answers (default: $NTP_SERVER).\n\n")
		fs.PrintDefaults()
	}
	var o Options
	fs.BoolVar(&o.Oneshot, "1", false, "set the clock once and exit (non-zero when no server answered)")
	fs.DurationVar(&o.Interval, "interval", time.Hour, "time between queries when running as a service")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Second, "how long to wait for each server's answer")
	fs.DurationVar(&o.Threshold, "threshold", 10*time.Millisecond, "offsets smaller than this leave the clock alone")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.Servers = fs.Args()
	if len(o.Servers) == 0 {
		o.Servers = strings.FieldsFunc(getenv("NTP_SERVER"), func(r rune) bool { return r == ',' || r == ' ' })
	}
	switch {
	case len(o.Servers) == 0:
		return o, errors.New("no NTP server: give one as an argument or in NTP_SERVER (e.g. pool.ntp.org)")
	case o.Interval < time.Minute:
		return o, fmt.Errorf("-interval %s is too short: servers ban clients that ask more than once a minute", o.Interval)
	case o.Timeout <= 0:
		return o, fmt.Errorf("-timeout %s must be positive", o.Timeout)
	case o.Threshold < 0:
		return o, fmt.Errorf("-threshold %s must not be negative", o.Threshold)
	}
	return o, nil
}

// query asks each server in turn and returns the clock's offset from the
// first valid answer.
func query(servers []string, timeout time.Duration) (string, time.Duration, error) {
	var errs []error
	for _, s := range servers {
		r, err := ntp.QueryWithOptions(s, ntp.QueryOptions{Timeout: timeout})
		if err == nil {
			err = r.Validate()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
			continue
		}
		return s, r.ClockOffset, nil
	}
	return "", 0, fmt.Errorf("no NTP server gave a usable answer: %w", errors.Join(errs...))
}

// timexOffset splits an offset into the seconds and non-negative
// nanoseconds adjtimex(ADJ_SETOFFSET|ADJ_NANO) wants: -1.5 s is -2 s
// plus 0.5 s.
func timexOffset(d time.Duration) (sec, nsec int64) {
	sec, nsec = int64(d/time.Second), int64(d%time.Second)
	if nsec < 0 {
		sec, nsec = sec-1, nsec+int64(time.Second)
	}
	return sec, nsec
}

// stepClock moves the clock by d. The kernel adds the offset itself, so
// the time between our measurement and the change is not lost.
func stepClock(d time.Duration) error {
	sec, nsec := timexOffset(d)
	tx := unix.Timex{Modes: unix.ADJ_SETOFFSET | unix.ADJ_NANO, Time: unix.Timeval{Sec: sec, Usec: nsec}}
	if _, err := unix.Adjtimex(&tx); err != nil {
		return fmt.Errorf("set the clock: %w (the container needs CAP_SYS_TIME)", err)
	}
	return nil
}

// syncer queries and steps; step is stepClock outside tests.
type syncer struct {
	opts Options
	step func(time.Duration) error
	log  *log.Logger
}

func (s *syncer) sync() error {
	server, off, err := query(s.opts.Servers, s.opts.Timeout)
	if err != nil {
		return err
	}
	if off.Abs() < s.opts.Threshold {
		s.log.Printf("%s: clock within %s, left alone", server, off.Round(time.Microsecond))
		return nil
	}
	if err := s.step(off); err != nil {
		return err
	}
	s.log.Printf("%s: clock stepped by %s", server, off.Round(time.Microsecond))
	return nil
}

// run syncs once, or until ctx ends at every interval, logging failures
// and carrying on: the next query may reach a server.
func (s *syncer) run(ctx context.Context) error {
	err := s.sync()
	if s.opts.Oneshot {
		return err
	}
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	for {
		if err != nil {
			s.log.Print(err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			err = s.sync()
		}
	}
}

func main() {
	opts, err := parseArgs(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ntp:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	s := &syncer{opts: opts, step: stepClock, log: log.New(os.Stderr, "ntp: ", 0)}
	if err := s.run(ctx); err != nil {
		s.log.Print(err)
		os.Exit(1)
	}
}
