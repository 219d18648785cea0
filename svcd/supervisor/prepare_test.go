package supervisor

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/svcd/runner"
)

// preparers is what the preparing runners of one test share: the
// failures to script and a channel closed once want of them prepared.
type preparers struct {
	errs map[string]error
	want int

	mu       sync.Mutex
	n        int
	prepared chan struct{}
}

func newPreparers(want int) *preparers {
	return &preparers{want: want, prepared: make(chan struct{})}
}

// preparing is a fakeService that is also a runner.Preparer and a
// runner.Releaser.
type preparing struct {
	*fakeService
	all *preparers
}

func (p *preparing) Prepare(context.Context) error {
	p.rec.add("prepare %s", p.name)
	a := p.all
	a.mu.Lock()
	a.n++
	if a.n == a.want {
		close(a.prepared)
	}
	a.mu.Unlock()
	return a.errs[p.name]
}

func (p *preparing) Release() { p.rec.add("release %s", p.name) }

var _ interface {
	runner.Preparer
	runner.Releaser
} = (*preparing)(nil)

// events returns the recorded events that start with prefix.
func events(r *recorder, prefix string) []string {
	var out []string
	for _, e := range r.list() {
		if strings.HasPrefix(e, prefix) {
			out = append(out, e)
		}
	}
	return out
}

// TestBootPreparesWhileOnbootRuns: the services' runners prepare while
// the onboot container still runs (it waits for them), and the services
// themselves start only after it ended.
func TestBootPreparesWhileOnbootRuns(t *testing.T) {
	p := newPreparers(2)
	f := &fakeRunners{preparers: p, oneShots: map[string]oneShot{"setup": {gate: p.prepared}}}
	s := testSupervisor(t, system{
		onboot:   []bundle.Keel{{Name: "setup", Phase: bundle.PhaseOnboot}},
		services: []bundle.Keel{{Name: "web", Phase: bundle.PhaseService}, {Name: "db", Phase: bundle.PhaseService}},
	}, f)
	boot(t, s)
	defer s.Shutdown()
	for _, name := range []string{"web", "db"} {
		f.rec.before(t, "prepare "+name, "end setup")
		f.rec.before(t, "end setup", "start "+name)
		if got := row(t, s, name).State; got != string(runner.StateRunning) {
			t.Errorf("%s: got state %s, want running", name, got)
		}
	}
	if got := events(f.rec, "gate timeout"); len(got) > 0 {
		t.Errorf("the onboot container ended before the services were prepared: %q", got)
	}
}

// TestBootPrepareFailureStillStarts: a service whose preparation failed
// starts all the same (its runner does the work at the start).
func TestBootPrepareFailureStillStarts(t *testing.T) {
	p := newPreparers(1)
	p.errs = map[string]error{"web": errBoom}
	f := &fakeRunners{preparers: p}
	s := testSupervisor(t, system{services: []bundle.Keel{{Name: "web", Phase: bundle.PhaseService}}}, f)
	boot(t, s)
	defer s.Shutdown()
	f.rec.before(t, "prepare web", "start web")
	if got := row(t, s, "web").State; got != string(runner.StateRunning) {
		t.Errorf("web: got state %s, want running", got)
	}
}

// TestBootAdoptingPreparesNothing: under a containerd that already runs
// (svcd restarted), the services' tasks may be running: nothing is
// prepared, each run adopts or creates as before.
func TestBootAdoptingPreparesNothing(t *testing.T) {
	f := &fakeRunners{preparers: newPreparers(1), adopting: true}
	s := testSupervisor(t, system{services: []bundle.Keel{{Name: "web", Phase: bundle.PhaseService}}}, f)
	boot(t, s)
	defer s.Shutdown()
	if got := events(f.rec, "prepare"); len(got) > 0 {
		t.Errorf("got %q, want no preparation when adopting", got)
	}
	if !slices.Contains(f.rec.list(), "start web") {
		t.Errorf("web was not started; events: %q", f.rec.list())
	}
}

// TestUnstartedServiceReleasesPrepared: a service that will not start (its
// dependency is not a service) lets go of what was prepared for it.
func TestUnstartedServiceReleasesPrepared(t *testing.T) {
	f := &fakeRunners{preparers: newPreparers(1)}
	s := testSupervisor(t, system{services: []bundle.Keel{
		{Name: "web", Phase: bundle.PhaseService, DependsOn: []string{"nothere"}},
	}}, f)
	boot(t, s)
	defer s.Shutdown()
	f.rec.before(t, "prepare web", "release web")
	if got := row(t, s, "web").State; got == string(runner.StateRunning) {
		t.Errorf("web: got state %s, want not started", got)
	}
}
