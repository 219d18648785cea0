// Package supervisor is svcd's plan for a boot: run the onboot containers in
// order, start containerd and wait for it, start the services and keep them
// running, and on shutdown undo it all in reverse. It keeps the state table
// the API shows. How each container is run is not its business: it gets
// its runners from a Runners (svcd's daemon gives runc and containerd,
// tests give fakes).
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/keel-os/keel/svcd/api"
	"github.com/keel-os/keel/svcd/logs"
	"github.com/keel-os/keel/svcd/runner"
)

// Self is the log name of svcd's own messages.
const Self = "svcd"

// ContainerdName is containerd's row in the table and its log name.
const ContainerdName = "containerd"

// DefaultOneShotTimeout is the zero Config.OneShotTimeout.
const DefaultOneShotTimeout = 5 * time.Minute

// Config says where everything is. main fills it from flags whose defaults
// are the image layout, so tests can point it at a temp dir.
type Config struct {
	// ContainersDir holds onboot/, services/ and onshutdown/.
	ContainersDir string
	// Runners runs the containers and containerd.
	Runners Runners
	// OneShotTimeout applies to onboot and onshutdown containers whose
	// keel.json has no timeout.
	OneShotTimeout time.Duration
	// Backoff is the wait between restarts of services and containerd;
	// zero means runner.DefaultBackoff.
	Backoff runner.Backoff
	Logs    *logs.Store
	// BootLog is init's boot record; empty means none.
	BootLog string
	// CgroupRoot is the cgroup v2 mount; empty means /sys/fs/cgroup.
	CgroupRoot string
	// WaitDevices, when not nil, blocks until PID 1 has loaded the modules
	// of the devices present at boot (initctl.DevicesFDEnv). Boot starts
	// containerd meanwhile and the onboot containers after it.
	WaitDevices func(context.Context) error
}

// Supervisor runs one boot. Boot, then Shutdown, each called once, not
// concurrently.
type Supervisor struct {
	cfg   Config
	table *Table

	onboot, services, onshutdown []Unit
	svcs                         map[string]*service

	mu         sync.Mutex
	containerd *running
	// client makes services' runners; nil until containerd answers.
	client ServiceRunners
	// shuttingDown makes Start refuse, so nothing starts behind Shutdown.
	shuttingDown bool
}

// running is a goroutine running a runner until cancelled.
type running struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}
}

func (r *running) stop() {
	r.cancel()
	<-r.done
}

// New reads the bundles under cfg.ContainersDir and lists them all as
// pending, so `svcctl list` shows the whole plan from the start.
func New(cfg Config) (*Supervisor, error) {
	if cfg.Runners == nil {
		return nil, errors.New("supervisor: Config.Runners is nil: svcd's daemon sets it")
	}
	if cfg.Logs == nil {
		cfg.Logs = logs.NewStore(os.Stdout)
	}
	if cfg.OneShotTimeout <= 0 {
		cfg.OneShotTimeout = DefaultOneShotTimeout
	}
	if cfg.Backoff == (runner.Backoff{}) {
		cfg.Backoff = runner.DefaultBackoff
	}
	s := &Supervisor{cfg: cfg, table: NewTable()}
	var err error
	if s.onboot, err = discover(filepath.Join(cfg.ContainersDir, "onboot"), api.PhaseOnboot); err != nil {
		return nil, err
	}
	if s.services, err = discover(filepath.Join(cfg.ContainersDir, "services"), api.PhaseService); err != nil {
		return nil, err
	}
	if s.onshutdown, err = discover(filepath.Join(cfg.ContainersDir, "onshutdown"), api.PhaseOnshutdown); err != nil {
		return nil, err
	}
	nameUnits(map[string]bool{ContainerdName: true, Self: true}, s.services, s.onboot, s.onshutdown)
	for _, list := range [][]Unit{s.onboot, s.services, s.onshutdown} {
		for _, u := range list {
			cfg.Logs.Quiet(u.Name, u.Keel != nil && !u.Keel.Console)
		}
	}
	for _, u := range s.onboot {
		s.table.Add(u.Name, u.Phase)
	}
	s.table.Add(ContainerdName, api.PhaseSystem)
	s.svcs = map[string]*service{}
	for _, u := range s.services {
		s.table.Add(u.Name, u.Phase)
		if u.Keel != nil {
			restart := u.Keel.Restart
			if restart == "" {
				restart = "on-failure"
			}
			s.table.Describe(u.Name, u.Keel.Image, restart, u.Keel.DependsOn)
		}
		s.svcs[u.Name] = &service{unit: u}
	}
	for _, u := range s.onshutdown {
		s.table.Add(u.Name, u.Phase)
	}
	return s, nil
}

func (s *Supervisor) logf(format string, args ...any) {
	s.cfg.Logs.Printf(Self, format, args...)
}

// Containers implements api.Backend's listing.
func (s *Supervisor) Containers() []api.Container { return s.table.List() }

// Logs returns what name printed; a known container that printed nothing
// has empty logs.
func (s *Supervisor) Logs(name string) ([]api.LogLine, bool) {
	lines, ok := s.cfg.Logs.Lines(name)
	if !ok {
		_, ok = s.table.Get(name)
		return nil, ok
	}
	out := make([]api.LogLine, len(lines))
	for i, l := range lines {
		out[i] = api.LogLine{Seq: l.Seq, Time: l.Time, Stream: l.Stream, Text: l.Text}
	}
	return out, true
}

// runOneShots runs onboot or onshutdown containers one after the other,
// each to completion or its timeout; a failure is logged and the next one
// runs anyway, as a boot must go on.
func (s *Supervisor) runOneShots(ctx context.Context, units []Unit) {
	for _, u := range units {
		if ctx.Err() != nil {
			return
		}
		if u.Err != nil {
			s.table.Finish(u.Name, -1, u.Err, false)
			s.logf("%s %s failed: %v", u.Phase, u.Name, u.Err)
			continue
		}
		timeout := time.Duration(u.Keel.Timeout)
		if timeout <= 0 {
			timeout = s.cfg.OneShotTimeout
		}
		r := s.cfg.Runners.OneShot(u, timeout)
		code, err := r.Run(ctx, s.notify(u.Name, u.Phase, nil))
		stopped := ctx.Err() != nil
		s.table.Finish(u.Name, code, err, stopped)
		s.logEnd(u.Phase, u.Name, code, err, stopped)
	}
}

// notify records events in the table and prints the console markers.
// also, when set, sees every event too.
func (s *Supervisor) notify(name, phase string, also runner.Notify) runner.Notify {
	label := label(phase, name)
	return func(e runner.Event) {
		s.table.Apply(name, e)
		switch e.State {
		case runner.StateRunning:
			if e.Pid > 0 {
				s.logf("%s running pid %d", label, e.Pid)
			}
		case "":
			if e.Health != "" {
				s.logf("%s %s", label, e.Health)
			}
		case runner.StateBackoff:
			what := fmt.Sprintf("exited %d", e.ExitCode)
			if errors.Is(e.Err, runner.ErrOOMKilled) {
				what = fmt.Sprintf("exited %d, %v", e.ExitCode, e.Err)
			} else if e.Err != nil {
				what = fmt.Sprintf("failed: %v", e.Err)
			}
			s.logf("%s %s, restarting in %s (restart %d)", label, what, e.Delay, e.Restarts)
		}
		if also != nil {
			also(e)
		}
	}
}

func (s *Supervisor) logEnd(phase, name string, code int, err error, stopped bool) {
	label := label(phase, name)
	switch {
	case stopped:
		s.logf("%s stopped", label)
	case err != nil:
		s.logf("%s failed: %v", label, err)
	default:
		s.logf("%s exited %d", label, code)
	}
}

// label names a container in console markers: "onboot dhcpcd",
// "service web", and plain "containerd" for svcd's own children.
func label(phase, name string) string {
	if phase == api.PhaseSystem {
		return name
	}
	return phase + " " + name
}

// start runs r in its own goroutine under its own context, so that only
// Shutdown, in its order, stops it. It returns once r first reports
// running or restarting, or has ended, or ctx is done.
func (s *Supervisor) start(ctx context.Context, name, phase string, r runner.Runner) *running {
	rn, started := s.launch(name, phase, r)
	select {
	case <-started:
	case <-ctx.Done():
	}
	return rn
}

// launch runs r in its own goroutine under its own context and returns at
// once; started is closed when r first reports running or restarting, or
// has ended.
func (s *Supervisor) launch(name, phase string, r runner.Runner) (*running, <-chan struct{}) {
	rctx, cancel := context.WithCancel(context.Background())
	rn := &running{name: name, cancel: cancel, done: make(chan struct{})}
	started := make(chan struct{})
	var once sync.Once
	up := func() { once.Do(func() { close(started) }) }
	notify := s.notify(name, phase, func(e runner.Event) {
		if e.State == runner.StateRunning || e.State == runner.StateBackoff {
			up()
		}
	})
	go func() {
		defer close(rn.done)
		defer up()
		code, err := r.Run(rctx, notify)
		stopped := rctx.Err() != nil
		s.table.Finish(name, code, err, stopped)
		s.logEnd(phase, name, code, err, stopped)
	}()
	return rn, started
}

// ended says whether the run has finished by itself.
func (r *running) ended() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}
