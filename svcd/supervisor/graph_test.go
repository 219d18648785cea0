package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/svcd/api"
)

// The service graph on fake runners: what the root-only integration test
// shows on real containers, here on every `go test`.

// TestBootRunsOnbootBeforeServices: the onboot containers run one after
// the other, in their order, and a service starts only once the last has
// ended.
func TestBootRunsOnbootBeforeServices(t *testing.T) {
	f := &fakeRunners{}
	s := testSupervisor(t, system{
		onboot:   []bundle.Keel{{Name: "first"}, {Name: "second"}},
		services: []bundle.Keel{{Name: "web"}},
	}, f)
	boot(t, s)
	defer s.Shutdown()
	f.rec.before(t, "end first", "run second")
	f.rec.before(t, "end second", "start web")
	f.rec.before(t, "start containerd", "start web")
	for name, want := range map[string]string{"first": "exited", "second": "exited", "web": "running", ContainerdName: "running"} {
		if got := row(t, s, name).State; got != want {
			t.Errorf("%s: got state %s, want %s", name, got, want)
		}
	}
}

// TestOnbootFailureBootGoesOn: an onboot container that fails, by its exit
// code, an error of its runner or a bundle that cannot be read, is
// recorded as failed and the boot goes on: the next onboot runs and the
// services start.
func TestOnbootFailureBootGoesOn(t *testing.T) {
	f := &fakeRunners{oneShots: map[string]oneShot{
		"exits3": {code: 3},
		"broken": {code: -1, err: errBoom},
	}}
	s := testSupervisor(t, system{
		onboot: []bundle.Keel{
			{Name: "exits3"},
			{Name: "broken"},
			{Name: "unreadable", Version: 99},
			{Name: "fine"},
		},
		services: []bundle.Keel{{Name: "web"}},
	}, f)
	boot(t, s)
	defer s.Shutdown()
	f.rec.before(t, "end exits3", "run broken")
	f.rec.before(t, "end broken", "run fine")
	f.rec.before(t, "end fine", "start web")
	if ev := f.rec.list(); strings.Contains(strings.Join(ev, ","), "run unreadable") {
		t.Errorf("an unreadable onboot bundle was run: events %q", ev)
	}
	tests := []struct {
		name, state, errText string
		code                 int
	}{
		{"exits3", "failed", "", 3},
		{"broken", "failed", "boom", -2},
		{"unreadable", "failed", "keel.json version 99", -2},
		{"fine", "exited", "", 0},
		{"web", "running", "", -2},
	}
	for _, tc := range tests {
		c := row(t, s, tc.name)
		if c.State != tc.state {
			t.Errorf("%s: got state %s, want %s", tc.name, c.State, tc.state)
		}
		if !strings.Contains(c.Error, tc.errText) || (tc.errText == "") != (c.Error == "") {
			t.Errorf("%s: got error %q, want one containing %q", tc.name, c.Error, tc.errText)
		}
		if tc.code != -2 && (c.ExitCode == nil || *c.ExitCode != tc.code) {
			t.Errorf("%s: got exit code %v, want %d", tc.name, c.ExitCode, tc.code)
		}
	}
}

// TestBootStartsInDependencyOrder: a service starts only once every
// service it depends on reports running, however long that takes.
func TestBootStartsInDependencyOrder(t *testing.T) {
	f := &fakeRunners{svcs: map[string]*fakeService{
		"db":  {name: "db", delay: 30 * time.Millisecond},
		"web": {name: "web", delay: 10 * time.Millisecond},
	}}
	s := testSupervisor(t, system{services: []bundle.Keel{
		{Name: "app", DependsOn: []string{"web", "db"}},
		{Name: "db"},
		{Name: "web", DependsOn: []string{"db"}},
	}}, f)
	boot(t, s)
	defer s.Shutdown()
	f.rec.before(t, "up db", "start web")
	f.rec.before(t, "up web", "start app")
	if got := row(t, s, "app").State; got != "running" {
		t.Errorf("app: got state %s, want running", got)
	}
}

// TestBootDependencyNeverUp: a service whose dependency failed for good,
// or is no service at all, is not started and says why.
func TestBootDependencyNeverUp(t *testing.T) {
	f := &fakeRunners{badBundles: map[string]error{"db": errBoom}}
	s := testSupervisor(t, system{services: []bundle.Keel{
		{Name: "db"},
		{Name: "web", DependsOn: []string{"db"}},
		{Name: "orphan", DependsOn: []string{"nosuch"}},
	}}, f)
	boot(t, s)
	defer s.Shutdown()
	for name, want := range map[string]string{"db": "boom", "web": "dependency db is failed", "orphan": `depends on "nosuch"`} {
		c := row(t, s, name)
		if c.State != "failed" || !strings.Contains(c.Error, want) {
			t.Errorf("%s: got %s, %q; want failed, %q", name, c.State, c.Error, want)
		}
		if n := f.svcs[name].runs.Load(); n != 0 {
			t.Errorf("%s: got %d runs, want none", name, n)
		}
	}
}

// TestBootStartsIndependentServicesInParallel: services that do not
// depend on each other start at once; each of these reports running only
// once all have started, which a one-after-the-other start never reaches.
func TestBootStartsIndependentServicesInParallel(t *testing.T) {
	b := newBarrier(3)
	f := &fakeRunners{svcs: map[string]*fakeService{
		"a": {name: "a", barrier: b}, "b": {name: "b", barrier: b}, "c": {name: "c", barrier: b},
	}}
	s := testSupervisor(t, system{services: []bundle.Keel{{Name: "a"}, {Name: "b"}, {Name: "c"}}}, f)
	boot(t, s)
	defer s.Shutdown()
	for _, e := range f.rec.list() {
		if strings.HasPrefix(e, "alone ") {
			t.Errorf("%s: started while the others were not", strings.TrimPrefix(e, "alone "))
		}
	}
}

// TestShutdownStopsInReverseOrder: a service stops only once every service
// depending on it has stopped; then the onshutdown containers run, then
// containerd stops and its client is closed.
func TestShutdownStopsInReverseOrder(t *testing.T) {
	f := &fakeRunners{svcs: map[string]*fakeService{
		"app": {name: "app", stopDelay: 20 * time.Millisecond},
		"web": {name: "web", stopDelay: 20 * time.Millisecond},
	}}
	s := testSupervisor(t, system{
		services: []bundle.Keel{
			{Name: "db"},
			{Name: "web", DependsOn: []string{"db"}},
			{Name: "app", DependsOn: []string{"web"}},
			{Name: "solo"},
		},
		onshutdown: []bundle.Keel{{Name: "bye"}},
	}, f)
	boot(t, s)
	s.Shutdown()
	f.rec.before(t, "stopped app", "stop web")
	f.rec.before(t, "stopped web", "stop db")
	for _, svc := range []string{"db", "solo"} {
		f.rec.before(t, "stopped "+svc, "run bye")
	}
	f.rec.before(t, "end bye", "stop containerd")
	if !f.closed.Load() {
		t.Error("containerd's client was not closed")
	}
	for _, name := range []string{"db", "web", "app", "solo"} {
		if got := row(t, s, name).State; got != "stopped" {
			t.Errorf("%s: got state %s, want stopped", name, got)
		}
	}
}

// TestRestartOnExit: a service that ends by itself is run again through the
// restart decorator as its policy says, and the table counts the restarts.
func TestRestartOnExit(t *testing.T) {
	tests := []struct {
		restart  string
		exits    []int
		runs     int32
		state    string
		restarts int
	}{
		{"", []int{1, 2}, 3, "running", 2}, // on-failure by default
		{"on-failure", []int{0}, 1, "exited", 0},
		{"on-failure:1", []int{1, 1}, 2, "failed", 1},
		{"always", []int{0}, 2, "running", 1},
		{"no", []int{1}, 1, "failed", 0},
	}
	for _, tc := range tests {
		t.Run("restart "+tc.restart, func(t *testing.T) {
			svc := &fakeService{name: "svc", exits: tc.exits}
			f := &fakeRunners{svcs: map[string]*fakeService{"svc": svc}}
			s := testSupervisor(t, system{services: []bundle.Keel{{Name: "svc", Restart: tc.restart}}}, f)
			boot(t, s)
			defer s.Shutdown()
			waitFor(t, s, "svc "+tc.state, func(get func(string) (api.Container, bool)) bool {
				c, _ := get("svc")
				return c.State == tc.state && svc.runs.Load() == tc.runs
			})
			c := row(t, s, "svc")
			if c.Restarts != tc.restarts {
				t.Errorf("restarts: got %d, want %d", c.Restarts, tc.restarts)
			}
		})
	}
}

// TestContainerdNotReady: when containerd never answers, no service is
// started and each says why.
func TestContainerdNotReady(t *testing.T) {
	f := &fakeRunners{connectErr: errors.New("no answer")}
	s := testSupervisor(t, system{services: []bundle.Keel{{Name: "web"}}}, f)
	boot(t, s)
	defer s.Shutdown()
	c := row(t, s, "web")
	if c.State != "failed" || !strings.Contains(c.Error, "containerd not ready: no answer") {
		t.Errorf("web: got %s, %q; want failed, containerd not ready", c.State, c.Error)
	}
	if n := f.svcs["web"].runs.Load(); n != 0 {
		t.Errorf("web: got %d runs, want none", n)
	}
	if err := s.Start("web"); !errors.Is(err, api.ErrConflict) {
		t.Errorf("Start with containerd not ready: got %v, want a conflict", err)
	}
}

// TestBootWaitsForDevices: while PID 1 still loads the modules of the
// devices present at boot, containerd starts and onboot waits; a failed
// wait lets the boot go on.
func TestBootWaitsForDevices(t *testing.T) {
	for _, waitErr := range []error{nil, errBoom} {
		t.Run(fmt.Sprint(waitErr), func(t *testing.T) {
			f := &fakeRunners{}
			s := testSupervisor(t, system{
				onboot:   []bundle.Keel{{Name: "format"}},
				services: []bundle.Keel{{Name: "web"}},
			}, f)
			s.cfg.WaitDevices = func(ctx context.Context) error {
				// containerd is started before the scan ends.
				for !slices.Contains(f.rec.list(), "start containerd") {
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(time.Millisecond):
					}
				}
				f.rec.add("devices ready")
				return waitErr
			}
			boot(t, s)
			defer s.Shutdown()
			f.rec.before(t, "start containerd", "devices ready")
			f.rec.before(t, "devices ready", "run format")
			f.rec.before(t, "end format", "start web")
		})
	}
}
