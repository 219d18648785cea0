package supervisor

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/keel-os/keel/svcd/api"
	"github.com/keel-os/keel/svcd/runner"
	"golang.org/x/sys/unix"
)

// maxHistory bounds the events kept for `svcctl boot`; the first ones (the
// boot) are kept, later ones only stream.
const maxHistory = 2000

// Table is the state of every container svcd knows, in the order they were
// added. Every change becomes an api.Event for subscribers and wakes
// Wait. It is safe for concurrent use.
type Table struct {
	// Now stamps starts; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	order   []string
	rows    map[string]*api.Container
	changed chan struct{}
	history []api.Event
	subs    map[chan api.Event]struct{}
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{rows: map[string]*api.Container{}, changed: make(chan struct{}), subs: map[chan api.Event]struct{}{}}
}

func (t *Table) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// Add registers name as pending. Adding a name twice keeps the first row.
func (t *Table) Add(name, phase string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.rows[name]; ok {
		return
	}
	t.order = append(t.order, name)
	t.rows[name] = &api.Container{Name: name, Phase: phase, State: string(runner.StatePending)}
}

// Describe sets what a row shows about its configuration.
func (t *Table) Describe(name, image, restart string, deps []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.row(name)
	r.Image, r.Restart, r.DependsOn = image, restart, deps
}

func (t *Table) row(name string) *api.Container {
	r, ok := t.rows[name]
	if !ok {
		// An event for a name never added is a bug; record it rather
		// than lose it.
		r = &api.Container{Name: name}
		t.order = append(t.order, name)
		t.rows[name] = r
	}
	return r
}

// commit publishes the row's new state; t.mu is held.
func (t *Table) commit(r *api.Container, at time.Time) {
	close(t.changed)
	t.changed = make(chan struct{})
	e := api.Event{Time: at, BootNS: bootNS(), Name: r.Name, Phase: r.Phase, State: r.State,
		Health: r.Health, Pid: r.Pid, Error: r.Error}
	if r.ExitCode != nil && r.State != string(runner.StateRunning) {
		v := *r.ExitCode
		e.ExitCode = &v
		e.OOMKilled = r.OOMKilled
	}
	if len(t.history) < maxHistory {
		t.history = append(t.history, e)
	}
	for c := range t.subs {
		select {
		case c <- e:
		default:
			// A subscriber that does not keep up loses events rather
			// than stall the supervisor.
		}
	}
}

// Apply records an event a runner reported.
func (t *Table) Apply(name string, e runner.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.row(name)
	ts := t.now()
	if e.State == "" {
		if e.Health == "" || r.State != string(runner.StateRunning) {
			return
		}
		r.Health = string(e.Health)
		t.commit(r, ts)
		return
	}
	r.State = string(e.State)
	r.Restarts = e.Restarts
	switch e.State {
	case runner.StateRunning:
		r.StartedAt = &ts
		r.Pid = e.Pid
		r.Error = ""
		r.Health = ""
		r.NextStart = nil
	case runner.StateBackoff:
		r.Pid = 0
		r.Health = ""
		code := e.ExitCode
		r.ExitCode = &code
		r.OOMKilled = errors.Is(e.Err, runner.ErrOOMKilled)
		r.Error = errText(e.Err)
		next := ts.Add(e.Delay)
		r.NextStart = &next
	}
	t.commit(r, ts)
}

// Finish records how a run ended: stopped when svcd stopped it, failed on
// an error or non-zero exit, else exited.
func (t *Table) Finish(name string, code int, err error, stopped bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.row(name)
	r.Pid = 0
	r.Health = ""
	r.NextStart = nil
	if code >= 0 {
		r.ExitCode = &code
		r.OOMKilled = errors.Is(err, runner.ErrOOMKilled)
	}
	r.Error = errText(err)
	switch {
	case stopped:
		r.State = string(runner.StateStopped)
		// Being stopped before starting is not an error worth showing.
		if errors.Is(err, context.Canceled) {
			r.Error = ""
		}
	case err != nil || code != 0:
		r.State = string(runner.StateFailed)
	default:
		r.State = string(runner.StateExited)
	}
	t.commit(r, t.now())
}

// Set puts a row in a state of svcd's own (pending again, skipped), with
// an optional note.
func (t *Table) Set(name, state, note string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.row(name)
	r.State, r.Error, r.Pid, r.Health, r.NextStart = state, note, 0, "", nil
	t.commit(r, t.now())
}

// Mark records a milestone that is no change of a row (containerd ready,
// all services started) in the event stream and the boot history.
func (t *Table) Mark(name, phase, what string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.commit(&api.Container{Name: name, Phase: phase, State: what}, t.now())
}

// List returns a copy of every row, in the order added.
func (t *Table) List() []api.Container {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]api.Container, 0, len(t.order))
	for _, n := range t.order {
		out = append(out, copyRow(t.rows[n]))
	}
	return out
}

func copyRow(r *api.Container) api.Container {
	c := *r
	if c.ExitCode != nil {
		v := *c.ExitCode
		c.ExitCode = &v
	}
	if c.StartedAt != nil {
		v := *c.StartedAt
		c.StartedAt = &v
	}
	if c.NextStart != nil {
		v := *c.NextStart
		c.NextStart = &v
	}
	c.DependsOn = append([]string(nil), c.DependsOn...)
	return c
}

// Get returns the row for name.
func (t *Table) Get(name string) (api.Container, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.rows[name]
	if !ok {
		return api.Container{}, false
	}
	return copyRow(r), true
}

// Wait returns when cond, looked at after every change, holds (nil) or ctx
// is done (its error).
func (t *Table) Wait(ctx context.Context, cond func(get func(string) (api.Container, bool)) bool) error {
	get := func(n string) (api.Container, bool) {
		r, ok := t.rows[n]
		if !ok {
			return api.Container{}, false
		}
		return *r, true
	}
	for {
		t.mu.Lock()
		ok := cond(get)
		ch := t.changed
		t.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// History returns the events kept since svcd started.
func (t *Table) History() []api.Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]api.Event(nil), t.history...)
}

// Subscribe streams every event from now on until cancel is called.
func (t *Table) Subscribe() (<-chan api.Event, func()) {
	c := make(chan api.Event, 256)
	t.mu.Lock()
	t.subs[c] = struct{}{}
	t.mu.Unlock()
	var once sync.Once
	return c, func() {
		once.Do(func() {
			t.mu.Lock()
			delete(t.subs, c)
			t.mu.Unlock()
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// bootNS is CLOCK_BOOTTIME in nanoseconds, the clock of init's boot log.
func bootNS() int64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return 0
	}
	return ts.Nano()
}
