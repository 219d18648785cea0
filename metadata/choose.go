package metadata

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Local is implemented by providers that read this machine (a disk, fw_cfg,
// a file) rather than the network. They are probed first and, when present,
// win over any network source.
type Local interface{ Local() bool }

func isLocal(p Provider) bool {
	l, ok := p.(Local)
	return ok && l.Local()
}

// Result is one provider's probe outcome.
type Result struct {
	Provider Provider
	Strength Strength
	Err      error
	Tries    int
	Took     time.Duration
}

// Chooser picks the provider this instance runs on.
type Chooser struct {
	// Providers in preference order.
	Providers []Provider
	Timing    Timing
	Log       func(format string, args ...any)
}

func (c *Chooser) logf(format string, args ...any) {
	if c.Log != nil {
		c.Log(format, args...)
	}
}

// Choose probes the local providers, then the network ones, each set
// concurrently. A local source present wins by preference order. Among
// network sources a strong answer is unambiguous and wins at once; a weak
// one (EC2-compatible paths that OpenStack and others also serve) wins only
// when every other probe has failed, and then by preference order.
func (c *Chooser) Choose(ctx context.Context) (Provider, Strength, error) {
	var local, network []Provider
	for _, p := range c.Providers {
		if isLocal(p) {
			local = append(local, p)
		} else {
			network = append(network, p)
		}
	}
	var failures []string
	for _, set := range [][]Provider{local, network} {
		if len(set) == 0 {
			continue
		}
		p, s, fails := c.probeSet(ctx, set)
		if p != nil {
			return p, s, nil
		}
		failures = append(failures, fails...)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, Absent, fmt.Errorf("%w (%s)", ErrNotFound, strings.Join(failures, "; "))
}

func (c *Chooser) probeSet(ctx context.Context, set []Provider) (Provider, Strength, []string) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make(chan Result, len(set))
	for _, p := range set {
		go func() { results <- c.probe(ctx, p) }()
	}
	got := map[Provider]Result{}
	for range set {
		r := <-results
		got[r.Provider] = r
		if r.Err == nil {
			c.logf("probe %s: %s answer after %d tries in %s", r.Provider.Name(), r.Strength, r.Tries, r.Took.Round(time.Millisecond))
		}
		if r.Strength == Strong && !isLocal(r.Provider) {
			return r.Provider, Strong, nil
		}
	}
	var fails []string
	for _, want := range []Strength{Strong, Weak} {
		for _, p := range set {
			if got[p].Strength == want {
				return p, want, nil
			}
		}
	}
	for _, p := range set {
		fails = append(fails, fmt.Sprintf("%s: %v", p.Name(), got[p].Err))
	}
	return nil, Absent, fails
}

// probe tries p up to Timing.Tries times, backing off between attempts, and
// stops early when the source answered definitely (a 404, garbage).
func (c *Chooser) probe(ctx context.Context, p Provider) Result {
	start := time.Now()
	t := c.Timing
	wait := t.Backoff
	r := Result{Provider: p}
	for r.Tries = 1; ; r.Tries++ {
		actx, cancel := context.WithTimeout(ctx, t.Attempt)
		s, err := p.Probe(actx)
		cancel()
		if err == nil && s == Absent {
			err = errors.New("not present")
		}
		r.Strength, r.Err = s, err
		if err != nil {
			r.Strength = Absent
		}
		if err == nil || Definite(err) || r.Tries >= t.Tries || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 2
	}
	r.Took = time.Since(start)
	return r
}

// Fetch reads the chosen provider's data, retrying transient failures.
func (c *Chooser) Fetch(ctx context.Context, p Provider) (*Data, error) {
	t := c.Timing
	wait := t.Backoff
	var err error
	for try := 1; ; try++ {
		fctx, cancel := context.WithTimeout(ctx, t.Fetch)
		var d *Data
		d, err = p.Fetch(fctx)
		cancel()
		if err == nil {
			return d, nil
		}
		if Definite(err) || try >= t.Tries || ctx.Err() != nil {
			return nil, fmt.Errorf("fetching from %s: %w", p.Name(), err)
		}
		c.logf("fetch %s: %v; retrying", p.Name(), err)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait *= 2
	}
}
