// Command dhcpcd is Keel's DHCPv4 client. It brings links up, obtains a
// lease on each, sets the address, the routes and /etc/resolv.conf, and
// keeps the lease (renew at T1, rebind at T2, discover again when it is
// lost) until SIGTERM, when it releases it. With -1 it configures the
// links once and exits, as an onboot container. It accepts the command
// line LinuxKit's specs give their dhcpcd image.
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
	"sync"
	"syscall"
	"time"
)

// Options are the command line's settings.
type Options struct {
	Oneshot bool
	Timeout time.Duration
	Links   []string
}

// parseArgs reads dhcpcd's command line. -f and --nobackground are
// accepted for LinuxKit specs' sake and ignored: everything comes from
// the lease, and a container never forks into the background.
func parseArgs(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("dhcpcd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: dhcpcd [-1] [-t SECONDS] [--nobackground] [-f FILE] [LINK...]\n\n"+
			"Configures LINKs (default: every Ethernet link) by DHCPv4 and keeps their leases.\n\n")
		fs.PrintDefaults()
	}
	var o Options
	fs.BoolVar(&o.Oneshot, "1", false, "oneshot: configure the links from one lease each and exit (non-zero when none got one)")
	secs := fs.Int("t", 30, "with -1, seconds to wait for a lease before giving up")
	fs.Bool("nobackground", true, "ignored: dhcpcd always stays in the foreground")
	fs.String("f", "", "ignored: the configuration comes from the DHCP server")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if *secs <= 0 {
		return o, fmt.Errorf("-t %d: the timeout must be a positive number of seconds", *secs)
	}
	o.Timeout = time.Duration(*secs) * time.Second
	o.Links = fs.Args()
	return o, nil
}

func main() {
	opts, err := parseArgs(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dhcpcd:", err)
		os.Exit(2)
	}
	logger := log.New(os.Stderr, "dhcpcd: ", 0)
	if err := run(opts, logger); err != nil {
		logger.Print(err)
		os.Exit(1)
	}
}

func run(opts Options, logger *log.Logger) error {
	links := opts.Links
	if len(links) == 0 {
		var err error
		if links, err = defaultLinks(); err != nil {
			return err
		}
		if len(links) == 0 {
			return errors.New("no Ethernet links to configure: is the network device's kernel module loaded?")
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if opts.Oneshot {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}

	res := newResolver(resolvConfPath)
	errs := make([]error, len(links))
	var wg sync.WaitGroup
	for i, name := range links {
		c := &linkClient{name: name, ops: netlinkOps{}, res: res, dial: dialNclient, log: logger, now: time.Now}
		wg.Go(func() {
			if opts.Oneshot {
				errs[i] = c.oneshot(ctx)
			} else {
				errs[i] = c.serve(ctx)
			}
		})
	}
	wg.Wait()

	failed := 0
	for _, err := range errs {
		if err != nil {
			logger.Print(err)
			failed++
		}
	}
	// One configured link is a network; the others were reported above.
	if failed == len(links) {
		if opts.Oneshot {
			return fmt.Errorf("no link got a lease within %s", opts.Timeout)
		}
		return errors.New("no link could be configured")
	}
	return nil
}
