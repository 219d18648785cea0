package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
)

// dhcpClient is the DHCP exchange on one link; nclient4 in the system.
type dhcpClient interface {
	Request(ctx context.Context) (*nclient4.Lease, error)
	Renew(ctx context.Context, l *nclient4.Lease) (*nclient4.Lease, error)
	Release(l *nclient4.Lease) error
	Close() error
}

// requestedOptions are the options we act on; servers send only what is asked for.
var requestedOptions = dhcpv4.WithRequestedOptions(
	dhcpv4.OptionSubnetMask,
	dhcpv4.OptionRouter,
	dhcpv4.OptionClasslessStaticRoute,
	dhcpv4.OptionDomainNameServer,
	dhcpv4.OptionDomainName,
	dhcpv4.OptionDNSDomainSearchList,
	dhcpv4.OptionIPAddressLeaseTime,
	dhcpv4.OptionRenewTimeValue,
	dhcpv4.OptionRebindingTimeValue,
)

type nclient struct{ *nclient4.Client }

func (c nclient) Request(ctx context.Context) (*nclient4.Lease, error) {
	return c.Client.Request(ctx, requestedOptions)
}

func (c nclient) Renew(ctx context.Context, l *nclient4.Lease) (*nclient4.Lease, error) {
	return c.Client.Renew(ctx, l, requestedOptions)
}

func (c nclient) Release(l *nclient4.Lease) error { return c.Client.Release(l) }

func dialNclient(link string) (dhcpClient, error) {
	c, err := nclient4.New(link)
	if err != nil {
		return nil, fmt.Errorf("open a DHCP socket on %s: %w (the container needs CAP_NET_RAW and net: host)", link, err)
	}
	return nclient{c}, nil
}

// linkClient obtains and keeps a lease on one link.
type linkClient struct {
	name string
	ops  NetOps
	res  *resolver
	dial func(link string) (dhcpClient, error)
	log  *log.Logger
	now  func() time.Time

	dhcp  dhcpClient
	lease *nclient4.Lease
	cfg   Config
	start time.Time // when the current lease was granted
}

// retryWait is how long to wait before the n-th (from 0) failed discovery
// is tried again: doubling from a second up to a minute.
func retryWait(n int) time.Duration {
	return min(time.Second<<min(n, 6), time.Minute)
}

// sleep waits d or until ctx ends, reporting whether the full time passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// open brings the link up and opens its DHCP socket.
func (c *linkClient) open() error {
	if err := c.ops.LinkUp(c.name); err != nil {
		return fmt.Errorf("bring %s up: %w", c.name, err)
	}
	d, err := c.dial(c.name)
	if err != nil {
		return err
	}
	c.dhcp = d
	return nil
}

func (c *linkClient) close() {
	if c.dhcp != nil {
		c.dhcp.Close()
		c.dhcp = nil
	}
}

// acquire runs discover/offer/request/ack until a lease is configured or
// ctx ends.
func (c *linkClient) acquire(ctx context.Context) error {
	start := time.Now()
	for n := 0; ; n++ {
		l, err := c.dhcp.Request(ctx)
		if err == nil {
			if err = c.bind(l); err == nil {
				c.log.Printf("%s: configured in %s", c.name, time.Since(start).Round(time.Millisecond))
				return nil
			}
		}
		if ctx.Err() != nil {
			return fmt.Errorf("no DHCP lease on %s: %w", c.name, err)
		}
		wait := retryWait(n)
		c.log.Printf("%s: %v; trying again in %s", c.name, err, wait)
		if !sleep(ctx, wait) {
			return fmt.Errorf("no DHCP lease on %s: %w", c.name, err)
		}
	}
}

// bind applies a lease the server granted.
func (c *linkClient) bind(l *nclient4.Lease) error {
	cfg, err := configFromACK(l.ACK)
	if err != nil {
		return err
	}
	for _, n := range cfg.Refused {
		c.log.Printf("%s: ignoring domain %.80q from the server: not a valid DNS name", c.name, n)
	}
	if err := Apply(c.ops, c.name, c.cfg, cfg); err != nil {
		return err
	}
	if err := c.res.set(c.name, &cfg); err != nil {
		// Addresses work without names; say so and carry on.
		c.log.Printf("%s: %v", c.name, err)
	}
	if c.lease != nil && c.cfg.Addr == cfg.Addr {
		c.log.Printf("%s: renewed %s for %s", c.name, cfg.Addr, cfg.Lease)
	} else {
		c.log.Printf("%s: %s", c.name, describe(cfg))
	}
	c.lease, c.cfg, c.start = l, cfg, c.now()
	return nil
}

func describe(c Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "leased %s from %s for %s", c.Addr, c.Server, c.Lease)
	for _, r := range c.Routes {
		if r.Gateway.IsValid() {
			fmt.Fprintf(&b, ", route %s via %s", r.Dst, r.Gateway)
		} else {
			fmt.Fprintf(&b, ", route %s on link", r.Dst)
		}
	}
	for _, d := range c.DNS {
		fmt.Fprintf(&b, ", dns %s", d)
	}
	if len(c.Search) > 0 {
		fmt.Fprintf(&b, ", search %s", strings.Join(c.Search, " "))
	}
	return b.String()
}

// unbind removes the lease's configuration from the system.
func (c *linkClient) unbind() {
	if err := Apply(c.ops, c.name, c.cfg, Config{}); err != nil {
		c.log.Printf("%s: %v", c.name, err)
	}
	if err := c.res.set(c.name, nil); err != nil {
		c.log.Printf("%s: %v", c.name, err)
	}
	c.lease, c.cfg = nil, Config{}
}

// maintain keeps the lease alive through renewals and rebinds until it
// expires (it returns nil, with the configuration removed) or ctx ends.
func (c *linkClient) maintain(ctx context.Context) error {
	for {
		phase, next := Schedule(c.cfg, c.start, c.now())
		switch phase {
		case Expired:
			c.log.Printf("%s: lease on %s expired", c.name, c.cfg.Addr)
			c.unbind()
			return nil
		case Renewing, Rebinding:
			actx, cancel := context.WithDeadline(ctx, next)
			l, err := c.dhcp.Renew(actx, c.lease)
			cancel()
			var nak *nclient4.ErrNak
			switch {
			case err == nil:
				if err := c.bind(l); err != nil {
					c.log.Printf("%s: renewed lease unusable: %v", c.name, err)
					c.unbind()
					return nil
				}
				continue
			case errors.As(err, &nak):
				c.log.Printf("%s: server refused to renew %s", c.name, c.cfg.Addr)
				c.unbind()
				return nil
			case ctx.Err() != nil:
				return ctx.Err()
			default:
				c.log.Printf("%s: %s %s: %v", c.name, phase, c.cfg.Addr, err)
			}
		}
		if !sleep(ctx, time.Until(next)) {
			return ctx.Err()
		}
	}
}

// release gives the lease back to its server and unconfigures the link,
// so the address is free for the next machine at once.
func (c *linkClient) release() {
	if c.lease == nil {
		return
	}
	addr := c.cfg.Addr
	if err := c.dhcp.Release(c.lease); err != nil {
		c.log.Printf("%s: release %s: %v", c.name, addr, err)
	}
	c.unbind()
	c.log.Printf("%s: released %s", c.name, addr)
}

// serve keeps the link configured until ctx ends, then releases it.
func (c *linkClient) serve(ctx context.Context) error {
	if err := c.open(); err != nil {
		return err
	}
	defer c.close()
	for {
		if err := c.acquire(ctx); err != nil {
			return nil // ctx ended before a lease: nothing to release
		}
		if err := c.maintain(ctx); err != nil {
			c.release()
			return nil
		}
	}
}

// oneshot configures the link from one lease and leaves it configured.
func (c *linkClient) oneshot(ctx context.Context) error {
	if err := c.open(); err != nil {
		return err
	}
	defer c.close()
	return c.acquire(ctx)
}
