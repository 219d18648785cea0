package supervisor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/keel-os/keel/svcd/api"
	"github.com/keel-os/keel/svcd/runner"
)

// service is one service's runner and its current run.
type service struct {
	unit Unit
	// r is the decorated runner, nil until the first start or prepare;
	// base is the service's own runner inside it.
	r, base runner.Runner

	mu  sync.Mutex
	run *running
}

func (sv *service) hasHealth() bool {
	return sv.unit.Keel != nil && sv.unit.Keel.Healthcheck != nil
}

// Boot runs the onboot containers and, at the same time, starts
// containerd; then it starts the services, each as soon as its
// dependencies are up. It returns when every service has started or
// failed to, or early when ctx is cancelled (a shutdown during boot); what
// was started is left for Shutdown.
//
// Onboot containers run with runc and need no containerd, and containerd
// needs nothing they do (its state is under /run, its root a directory no
// onboot container is expected to mount over, as in LinuxKit, which also
// starts containerd while onboot runs): starting both at once takes
// containerd's start-up (about a second under emulation) out of the boot.
// Services still start only after every onboot container has ended;
// what of their start needs only containerd is done before (prepare).
//
// When containerd already answers, svcd was restarted under a running
// system: onboot containers are not run again, and containerd and the
// running services are adopted as they are.
func (s *Supervisor) Boot(ctx context.Context) {
	adopting := s.cfg.Runners.ContainerdRunning()
	type started struct {
		client ServiceRunners
		err    error
	}
	ctrd := make(chan started, 1)
	go func() {
		c, err := s.startContainerd(ctx, adopting)
		if err == nil && !adopting {
			s.prepare(ctx, c)
		}
		ctrd <- started{c, err}
	}()
	if adopting {
		s.logf("containerd already running: svcd was restarted, adopting containers; onboot not run again")
		for _, u := range s.onboot {
			s.table.Set(u.Name, "skipped", "svcd restarted: onboot ran in an earlier svcd")
		}
	} else {
		s.waitDevices(ctx)
		s.runOneShots(ctx, s.onboot)
	}
	st := <-ctrd
	if ctx.Err() != nil {
		return
	}
	client, err := st.client, st.err
	if err != nil {
		s.logf("containerd not ready: %v; services not started", err)
		for _, u := range s.services {
			s.table.Finish(u.Name, -1, fmt.Errorf("not started: containerd not ready: %w", err), false)
		}
		return
	}
	var wg sync.WaitGroup
	for _, u := range s.services {
		sv := s.svcs[u.Name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.waitDeps(ctx, sv); err != nil {
				if ctx.Err() == nil {
					s.table.Finish(u.Name, -1, err, false)
					s.logf("service %s not started: %v", u.Name, err)
					s.unprepare(sv)
				}
				return
			}
			if s.startService(ctx, client, sv) != nil {
				s.logf("service %s already started on request while it waited for its dependencies", u.Name)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() == nil {
		s.logf("all services started")
		s.table.Mark(Self, api.PhaseSystem, "all-started")
	}
}

// up says whether a dependency lets its dependents start: running, and
// healthy when it has a check.
func (s *Supervisor) up(c api.Container) bool {
	if c.State != string(runner.StateRunning) {
		return false
	}
	sv := s.svcs[c.Name]
	return sv == nil || !sv.hasHealth() || c.Health == string(runner.HealthHealthy)
}

// waitDeps returns once every dependency of sv is up, or an error when one
// has ended for good (failed, exited, stopped) and so never will be.
func (s *Supervisor) waitDeps(ctx context.Context, sv *service) error {
	if sv.unit.Keel == nil || len(sv.unit.Keel.DependsOn) == 0 {
		return nil
	}
	var bad error
	err := s.table.Wait(ctx, func(get func(string) (api.Container, bool)) bool {
		for _, d := range sv.unit.Keel.DependsOn {
			c, ok := get(d)
			if !ok {
				bad = fmt.Errorf("depends on %q, which is not a service of this system", d)
				return true
			}
			switch runner.State(c.State) {
			case runner.StateFailed, runner.StateExited, runner.StateStopped:
				bad = fmt.Errorf("dependency %s is %s", d, c.State)
				return true
			}
			if !s.up(c) {
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	return bad
}

// runnerFor builds sv's runner once: the service's own (containerd), then
// health, then the restart policy around both. A bad bundle fails every
// start the same way, so it is said once. sv.mu is held.
func (s *Supervisor) runnerFor(client ServiceRunners, sv *service) (runner.Runner, error) {
	if sv.r != nil {
		return sv.r, nil
	}
	u := sv.unit
	if u.Err != nil {
		return nil, u.Err
	}
	k := u.Keel
	base, err := client.Service(u)
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", u.Dir, err)
	}
	p, err := runner.ParsePolicy(k.Restart, runner.Policy{Mode: runner.RestartOnFailure})
	if err != nil {
		return nil, fmt.Errorf("bundle %s: %w", u.Dir, err)
	}
	var r runner.Runner = base
	if hc := k.Healthcheck; hc != nil {
		r = &runner.HealthCheck{
			Runner:      base,
			Probe:       probe(hc, base),
			Interval:    time.Duration(hc.Interval),
			Timeout:     time.Duration(hc.Timeout),
			StartPeriod: time.Duration(hc.StartPeriod),
			Retries:     hc.Retries,
		}
	}
	sv.r, sv.base = runner.WithRestart(r, p, s.cfg.Backoff), base
	return sv.r, nil
}

// prepare has every service's runner that can (runner.Preparer) do the
// part of its first start that needs only containerd, all at once, and
// returns when they are done. Boot calls it while the onboot containers
// run: nothing it does is seen by the system. A failure is logged; the
// start then does that part itself.
func (s *Supervisor) prepare(ctx context.Context, client ServiceRunners) {
	var wg sync.WaitGroup
	for _, u := range s.services {
		sv := s.svcs[u.Name]
		sv.mu.Lock()
		_, err := s.runnerFor(client, sv)
		p, ok := sv.base.(runner.Preparer)
		sv.mu.Unlock()
		if err != nil || !ok {
			continue // a bad bundle is reported by its start
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Prepare(ctx); err != nil && ctx.Err() == nil {
				s.logf("service %s: preparing its container during onboot failed (its start does it instead): %v", u.Name, err)
			}
		}()
	}
	wg.Wait()
}

// unprepare lets go of what prepare made for a service that will not start.
func (s *Supervisor) unprepare(sv *service) {
	sv.mu.Lock()
	base := sv.base
	sv.mu.Unlock()
	if rl, ok := base.(runner.Releaser); ok {
		rl.Release()
	}
}

// errRunning says a service already has a run going on.
var errRunning = errors.New("already running")

// startService starts sv unless a run of it is going on (errRunning), and
// returns once it first reports running or backoff, or has ended, or ctx
// is done. The check, the runner's construction and the recording of the
// new run happen under sv.mu, so two starts at once (svcctl start, or one
// during boot's dependency wait) never make two restart loops; the wait
// for the first report is outside it, so a slow start holds up no Stop.
func (s *Supervisor) startService(ctx context.Context, client ServiceRunners, sv *service) error {
	name := sv.unit.Name
	sv.mu.Lock()
	if sv.run != nil && !sv.run.ended() {
		sv.mu.Unlock()
		return errRunning
	}
	r, err := s.runnerFor(client, sv)
	if err != nil {
		sv.mu.Unlock()
		s.table.Finish(name, -1, err, false)
		s.logf("service %s failed: %v", name, err)
		return nil
	}
	rn, started := s.launch(name, sv.unit.Phase, r)
	sv.run = rn
	sv.mu.Unlock()
	select {
	case <-started:
	case <-ctx.Done():
	}
	return nil
}

func (s *Supervisor) service(name string) (*service, error) {
	sv, ok := s.svcs[name]
	if !ok {
		if _, known := s.table.Get(name); known {
			return nil, fmt.Errorf("%s is not a service: only services can be started and stopped: %w", name, api.ErrConflict)
		}
		return nil, fmt.Errorf("no service named %q (svcctl list shows them): %w", name, api.ErrNotFound)
	}
	return sv, nil
}

// Start starts a service that is not running (stopped by hand, or given up
// on by its restart policy).
func (s *Supervisor) Start(name string) error {
	sv, err := s.service(name)
	if err != nil {
		return err
	}
	s.mu.Lock()
	client, down := s.client, s.shuttingDown
	s.mu.Unlock()
	if down {
		return fmt.Errorf("the system is shutting down: %w", api.ErrConflict)
	}
	if client == nil {
		return fmt.Errorf("containerd is not ready yet, try again once svcctl list shows it running: %w", api.ErrConflict)
	}
	if err := s.startService(context.Background(), client, sv); errors.Is(err, errRunning) {
		return fmt.Errorf("%s is already running (use restart): %w", name, api.ErrConflict)
	}
	s.logf("service %s started on request", name)
	return nil
}

// Stop stops a running service the graceful way; it stays stopped.
func (s *Supervisor) Stop(name string) error {
	sv, err := s.service(name)
	if err != nil {
		return err
	}
	sv.mu.Lock()
	rn := sv.run
	sv.run = nil
	sv.mu.Unlock()
	if rn == nil || rn.ended() {
		return fmt.Errorf("%s is not running: %w", name, api.ErrConflict)
	}
	s.logf("stopping service %s on request", name)
	rn.stop()
	return nil
}

// Restart stops a service if it runs, then starts it.
func (s *Supervisor) Restart(name string) error {
	if err := s.Stop(name); err != nil {
		if _, e := s.service(name); e != nil {
			return e
		}
	}
	return s.Start(name)
}

// Shutdown stops the services in reverse dependency order (each once every
// service depending on it has stopped; unrelated ones in parallel), runs
// the onshutdown containers, then stops containerd.
func (s *Supervisor) Shutdown() {
	s.mu.Lock()
	s.shuttingDown = true
	ctrd, client := s.containerd, s.client
	s.containerd, s.client = nil, nil
	s.mu.Unlock()

	done := map[string]chan struct{}{}
	dependents := map[string][]string{}
	for _, u := range s.services {
		done[u.Name] = make(chan struct{})
		if u.Keel != nil {
			for _, d := range u.Keel.DependsOn {
				dependents[d] = append(dependents[d], u.Name)
			}
		}
	}
	s.logf("shutdown: stopping %d services", len(s.services))
	var wg sync.WaitGroup
	for _, u := range s.services {
		sv := s.svcs[u.Name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[u.Name])
			for _, d := range dependents[u.Name] {
				<-done[d]
			}
			sv.mu.Lock()
			rn := sv.run
			sv.run = nil
			sv.mu.Unlock()
			if rn != nil && !rn.ended() {
				s.logf("stopping service %s", u.Name)
				rn.stop()
			}
		}()
	}
	wg.Wait()
	s.runOneShots(context.Background(), s.onshutdown)
	if client != nil {
		client.Close()
	}
	if ctrd != nil {
		s.logf("stopping containerd")
		ctrd.stop()
	}
	s.logf("shutdown complete")
}

// waitDevices holds the onboot containers until PID 1's device scan ends:
// they may format a disk or fetch metadata through a NIC whose module is
// still loading. A failed wait is logged and boot goes on, as it would
// without the scan.
func (s *Supervisor) waitDevices(ctx context.Context) {
	if s.cfg.WaitDevices == nil {
		return
	}
	start := time.Now()
	if err := s.cfg.WaitDevices(ctx); err != nil {
		if ctx.Err() == nil {
			s.logf("%v; running onboot anyway", err)
		}
		return
	}
	s.logf("devices ready after %s", time.Since(start).Round(time.Millisecond))
}
