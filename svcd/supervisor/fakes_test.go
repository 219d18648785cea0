package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/svcd/api"
	"github.com/keel-os/keel/svcd/logs"
	"github.com/keel-os/keel/svcd/runner"
)

// recorder keeps what the fakes did, in order, so tests can compare the
// order of starts and stops.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// before fails t unless a and b were both recorded, a first.
func (r *recorder) before(t *testing.T, a, b string) {
	t.Helper()
	ev := r.list()
	i, j := slices.Index(ev, a), slices.Index(ev, b)
	if i < 0 || j < 0 || i > j {
		t.Errorf("got %q at %d and %q at %d, want both, the first before the second; events: %q", a, i, b, j, ev)
	}
}

// oneShot is a fake onboot or onshutdown run: it records "run NAME" and
// "end NAME" and returns its scripted result.
type oneShot struct {
	name string
	rec  *recorder
	code int
	err  error
	// gate, when set, holds the run until it is closed (5 s at most).
	gate <-chan struct{}
}

func (o *oneShot) Run(_ context.Context, notify runner.Notify) (int, error) {
	o.rec.add("run %s", o.name)
	notify(runner.Event{State: runner.StateRunning, Pid: 1})
	// An onboot job takes a while: time for a wrong supervisor to start
	// what should wait for it.
	time.Sleep(5 * time.Millisecond)
	if o.gate != nil {
		select {
		case <-o.gate:
		case <-time.After(5 * time.Second):
			o.rec.add("gate timeout %s", o.name)
		}
	}
	o.rec.add("end %s", o.name)
	return o.code, o.err
}

// fakeService is a service's fake runner. Each run records "start NAME",
// waits its delay, records "up NAME" and reports running; it then ends by
// itself when exits scripts that for the run, or else runs until stopped,
// recording "stop NAME" when asked and "stopped NAME" once gone.
type fakeService struct {
	name string
	rec  *recorder
	// delay is the time between the start and the running report: the
	// window a wrong supervisor would start a dependent in.
	delay time.Duration
	// stopDelay is the time a stop takes.
	stopDelay time.Duration
	// exits[i], when present, is the exit code run i+1 ends with by
	// itself.
	exits []int
	// barrier, when set, is waited on before the running report.
	barrier *barrier
	runs    atomic.Int32
}

func (f *fakeService) Run(ctx context.Context, notify runner.Notify) (int, error) {
	n := int(f.runs.Add(1))
	f.rec.add("start %s", f.name)
	time.Sleep(f.delay)
	if f.barrier != nil && !f.barrier.wait() {
		f.rec.add("alone %s", f.name)
	}
	f.rec.add("up %s", f.name)
	notify(runner.Event{State: runner.StateRunning, Pid: 1000 + n})
	if n <= len(f.exits) {
		f.rec.add("exit %s", f.name)
		return f.exits[n-1], nil
	}
	<-ctx.Done()
	f.rec.add("stop %s", f.name)
	time.Sleep(f.stopDelay)
	f.rec.add("stopped %s", f.name)
	return 143, nil
}

// barrier lets n runs through once all n have arrived.
type barrier struct {
	n       int32
	arrived atomic.Int32
	all     chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: int32(n), all: make(chan struct{})} }

// wait reports whether all n arrived; a bound keeps a wrong supervisor
// (one that starts them one after the other) from hanging the test.
func (b *barrier) wait() bool {
	if b.arrived.Add(1) == b.n {
		close(b.all)
	}
	select {
	case <-b.all:
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

// fakeRunners is a Runners of fakes: containerd is a run that lasts until
// stopped, services are the fakeServices in svcs (a plain fakeService
// when absent), one-shots end with the results in oneShots (exit 0 when
// absent).
type fakeRunners struct {
	rec      *recorder
	oneShots map[string]oneShot
	svcs     map[string]*fakeService
	// connectErr fails Connect: containerd never answers.
	connectErr error
	// badBundles fails the services named with their error.
	badBundles map[string]error
	// preparers, when set, wraps each service's fakeService in a
	// preparing runner that records "prepare NAME" and "release NAME".
	preparers *preparers
	// adopting says containerd already runs (svcd restarted).
	adopting bool
	closed   atomic.Bool
}

func (f *fakeRunners) OneShot(u Unit, _ time.Duration) runner.Runner {
	o := f.oneShots[u.Name]
	o.name, o.rec = u.Name, f.rec
	return &o
}

func (f *fakeRunners) ContainerdRunning() bool { return f.adopting }

func (f *fakeRunners) Containerd(bool) (runner.Runner, error) {
	return &fakeService{name: ContainerdName, rec: f.rec}, nil
}

func (f *fakeRunners) Connect(context.Context) (ServiceRunners, error) {
	if f.connectErr != nil {
		return nil, f.connectErr
	}
	return fakeClient{f}, nil
}

// fakeClient is the fakeRunners' ServiceRunners.
type fakeClient struct{ f *fakeRunners }

func (c fakeClient) Service(u Unit) (runner.Runner, error) {
	if err := c.f.badBundles[u.Name]; err != nil {
		return nil, err
	}
	sv, ok := c.f.svcs[u.Name]
	if !ok {
		return nil, fmt.Errorf("the test has no runner for %s", u.Name)
	}
	if c.f.preparers != nil {
		return &preparing{fakeService: sv, all: c.f.preparers}, nil
	}
	return sv, nil
}

func (c fakeClient) Close() error {
	c.f.closed.Store(true)
	return nil
}

// system is what a test boots: bundles by phase, written under a temp
// dir as svcd finds them.
type system struct {
	onboot, services, onshutdown []bundle.Keel
}

// testSupervisor writes sys's bundles and returns a Supervisor over f,
// restarting at once. A service with no fakeService in f gets a plain one.
func testSupervisor(t *testing.T, sys system, f *fakeRunners) *Supervisor {
	t.Helper()
	dir := t.TempDir()
	if f.rec == nil {
		f.rec = &recorder{}
	}
	if f.svcs == nil {
		f.svcs = map[string]*fakeService{}
	}
	write := func(sub string, ks []bundle.Keel) {
		for i, k := range ks {
			name := k.Name
			if sub != "services" {
				name = fmt.Sprintf("%03d-%s", i, k.Name)
			}
			if k.Version == 0 {
				k.Version = bundle.Version
			}
			writeKeel(t, filepath.Join(dir, sub, name), k)
		}
	}
	write("onboot", sys.onboot)
	write("services", sys.services)
	write("onshutdown", sys.onshutdown)
	for _, k := range sys.services {
		if f.svcs[k.Name] == nil {
			f.svcs[k.Name] = &fakeService{name: k.Name}
		}
		f.svcs[k.Name].rec = f.rec
	}
	s, err := New(Config{
		ContainersDir: dir,
		Runners:       f,
		Logs:          logs.NewStore(io.Discard),
		Backoff:       runner.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Reset: time.Minute},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

func writeKeel(t *testing.T, dir string, k bundle.Keel) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, bundle.FileName), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// boot runs s.Boot to its end, bounded so a hang fails rather than stalls.
func boot(t *testing.T, s *Supervisor) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.Boot(ctx)
	if ctx.Err() != nil {
		t.Fatalf("Boot did not return: %v", ctx.Err())
	}
}

// row returns name's row of the table.
func row(t *testing.T, s *Supervisor, name string) api.Container {
	t.Helper()
	c, ok := s.table.Get(name)
	if !ok {
		t.Fatalf("no row %s in the table", name)
	}
	return c
}

// waitFor waits until cond holds for the table, at most 10 s.
func waitFor(t *testing.T, s *Supervisor, what string, cond func(get func(string) (api.Container, bool)) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.table.Wait(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v; table: %+v", what, err, s.table.List())
	}
}

var errBoom = errors.New("boom")
