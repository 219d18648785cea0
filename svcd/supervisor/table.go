package supervisor

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/keel-os/keel/svcd/api"
	"github.com/keel-os/keel/svcd/runner"
)

// Table is the state of every container svcd knows, in the order they were
// added. It is safe for concurrent use.
type Table struct {
	// Now stamps starts; nil means time.Now.
	Now func() time.Time

	mu    sync.Mutex
	order []string
	rows  map[string]*api.Container
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{rows: map[string]*api.Container{}}
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

// Apply records an event a runner reported.
func (t *Table) Apply(name string, e runner.Event) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.row(name)
	r.State = string(e.State)
	r.Restarts = e.Restarts
	switch e.State {
	case runner.StateRunning:
		now := time.Now
		if t.Now != nil {
			now = t.Now
		}
		ts := now()
		r.StartedAt = &ts
		r.Pid = e.Pid
		r.Error = ""
	case runner.StateRestarting:
		r.Pid = 0
		code := e.ExitCode
		r.ExitCode = &code
		r.Error = errText(e.Err)
	}
}

// Finish records how a run ended: stopped when svcd stopped it, failed on
// an error or non-zero exit, else exited.
func (t *Table) Finish(name string, code int, err error, stopped bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.row(name)
	r.Pid = 0
	if code >= 0 {
		r.ExitCode = &code
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
}

// List returns a copy of every row, in the order added.
func (t *Table) List() []api.Container {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]api.Container, 0, len(t.order))
	for _, n := range t.order {
		c := *t.rows[n]
		if c.ExitCode != nil {
			v := *c.ExitCode
			c.ExitCode = &v
		}
		if c.StartedAt != nil {
			v := *c.StartedAt
			c.StartedAt = &v
		}
		out = append(out, c)
	}
	return out
}

// Get returns the row for name.
func (t *Table) Get(name string) (api.Container, bool) {
	for _, c := range t.List() {
		if c.Name == name {
			return c, true
		}
	}
	return api.Container{}, false
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
