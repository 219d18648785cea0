// Package supervisor is svcd's plan for a boot: run the onboot containers in
// order, start containerd and wait for it, start the services and keep them
// running, and on shutdown undo it all in reverse. It keeps the state table
// the API shows. How each container is run is the runner package's job.
package supervisor

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/keel-os/keel/svcd/api"
	"github.com/keel-os/keel/svcd/logs"
	"github.com/keel-os/keel/svcd/runner"
)

// Self is the log name of svcd's own messages.
const Self = "svcd"

// ContainerdName is containerd's row in the table and its log name.
const ContainerdName = "containerd"

// Defaults for the zero values of Config.
const (
	DefaultOneShotTimeout     = 5 * time.Minute
	DefaultContainerdTimeout  = 60 * time.Second
	DefaultContainerdStopWait = 5 * time.Second
)

// Config says where everything is. main fills it from flags whose defaults
// are the image layout, so tests can point it at a temp dir.
type Config struct {
	// ContainersDir holds onboot/, services/ and onshutdown/.
	ContainersDir string
	Runc          string
	// RuncRoot is runc's state dir for onboot/onshutdown; empty means
	// runc's default.
	RuncRoot         string
	Containerd       string
	ContainerdConfig string
	ContainerdSocket string
	// FIFODir is where service output FIFOs go; empty means containerd's
	// default.
	FIFODir string
	// ContainerdTimeout bounds the wait for containerd to answer.
	ContainerdTimeout time.Duration
	// OneShotTimeout applies to onboot and onshutdown containers whose
	// keel.json has no timeout.
	OneShotTimeout time.Duration
	// Backoff is the wait between restarts of services and containerd;
	// zero means runner.DefaultBackoff.
	Backoff runner.Backoff
	Logs    *logs.Store
}

// Supervisor runs one boot. Boot, then Shutdown, each called once, not
// concurrently.
type Supervisor struct {
	cfg   Config
	table *Table

	onboot, services, onshutdown []Unit

	mu         sync.Mutex
	running    []*running // services in start order
	containerd *running
	client     *containerd.Client
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
	if cfg.Logs == nil {
		cfg.Logs = logs.NewStore(os.Stdout)
	}
	if cfg.OneShotTimeout <= 0 {
		cfg.OneShotTimeout = DefaultOneShotTimeout
	}
	if cfg.ContainerdTimeout <= 0 {
		cfg.ContainerdTimeout = DefaultContainerdTimeout
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
	for _, u := range s.onboot {
		s.table.Add(u.Name, u.Phase)
	}
	s.table.Add(ContainerdName, api.PhaseSystem)
	for _, u := range s.services {
		s.table.Add(u.Name, u.Phase)
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
		out[i] = api.LogLine{Time: l.Time, Stream: l.Stream, Text: l.Text}
	}
	return out, true
}

// Boot runs the onboot containers, starts containerd and then the services.
// It returns when all services have started, or early when ctx is cancelled
// (a shutdown during boot); what was started is left for Shutdown.
func (s *Supervisor) Boot(ctx context.Context) {
	s.runOneShots(ctx, s.onboot)
	if ctx.Err() != nil {
		return
	}
	client, err := s.startContainerd(ctx)
	if err != nil {
		s.logf("containerd not ready: %v; services not started", err)
		for _, u := range s.services {
			s.table.Finish(u.Name, -1, fmt.Errorf("not started: containerd not ready: %w", err), false)
		}
		return
	}
	for _, u := range s.services {
		if ctx.Err() != nil {
			return
		}
		s.startService(ctx, client, u)
	}
	s.logf("all services started")
}

// Shutdown stops the services in reverse start order, runs the onshutdown
// containers, then stops containerd.
func (s *Supervisor) Shutdown() {
	s.mu.Lock()
	services, ctrd, client := s.running, s.containerd, s.client
	s.running, s.containerd, s.client = nil, nil, nil
	s.mu.Unlock()

	s.logf("shutdown: stopping %d services", len(services))
	for i := len(services) - 1; i >= 0; i-- {
		s.logf("stopping service %s", services[i].name)
		services[i].stop()
	}
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
		r := &runner.Runc{
			Runc:    s.cfg.Runc,
			Root:    s.cfg.RuncRoot,
			ID:      u.ID,
			Bundle:  u.Dir,
			Stdout:  s.cfg.Logs.Writer(u.Name, "stdout"),
			Stderr:  s.cfg.Logs.Writer(u.Name, "stderr"),
			Timeout: timeout,
		}
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
		case runner.StateRestarting:
			what := fmt.Sprintf("exited %d", e.ExitCode)
			if e.Err != nil {
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
	rctx, cancel := context.WithCancel(context.Background())
	rn := &running{name: name, cancel: cancel, done: make(chan struct{})}
	started := make(chan struct{})
	var once sync.Once
	up := func() { once.Do(func() { close(started) }) }
	notify := s.notify(name, phase, func(e runner.Event) {
		if e.State == runner.StateRunning || e.State == runner.StateRestarting {
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
	select {
	case <-started:
	case <-ctx.Done():
	}
	return rn
}

func (s *Supervisor) startService(ctx context.Context, client *containerd.Client, u Unit) {
	if u.Err != nil {
		s.table.Finish(u.Name, -1, u.Err, false)
		s.logf("service %s failed: %v", u.Name, u.Err)
		return
	}
	k := u.Keel
	// A bad config.json would fail every restart the same way; say so once.
	_, err := runner.LoadSpec(u.Dir)
	var sig syscall.Signal
	if err == nil {
		sig, err = runner.ParseSignal(k.StopSignal, syscall.SIGTERM)
	}
	if err == nil {
		var p runner.Policy
		p, err = runner.ParsePolicy(k.Restart, runner.Policy{Mode: runner.RestartOnFailure})
		if err == nil {
			ns := ""
			if k.Runtime != nil {
				ns = k.Runtime.Namespace
			}
			base := &runner.Containerd{
				Client:      client,
				Namespace:   ns,
				ID:          u.ID,
				Bundle:      u.Dir,
				Runc:        s.cfg.Runc,
				FIFODir:     s.cfg.FIFODir,
				Stdout:      s.cfg.Logs.Writer(u.Name, "stdout"),
				Stderr:      s.cfg.Logs.Writer(u.Name, "stderr"),
				StopSignal:  sig,
				StopTimeout: time.Duration(k.StopTimeout),
			}
			rn := s.start(ctx, u.Name, u.Phase, runner.WithRestart(base, p, s.cfg.Backoff))
			s.mu.Lock()
			s.running = append(s.running, rn)
			s.mu.Unlock()
			return
		}
	}
	err = fmt.Errorf("bundle %s: %w", u.Dir, err)
	s.table.Finish(u.Name, -1, err, false)
	s.logf("service %s failed: %v", u.Name, err)
}

// startContainerd starts containerd as a restarted child and waits until
// its socket answers.
func (s *Supervisor) startContainerd(ctx context.Context) (*containerd.Client, error) {
	env := os.Environ()
	if os.Getenv("PATH") == "" {
		// PID 1 may start svcd with no PATH; the shims and runc are looked
		// up on it.
		env = append(env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin")
	}
	p := &runner.Process{
		Path:        s.cfg.Containerd,
		Args:        []string{"--config", s.cfg.ContainerdConfig, "--address", s.cfg.ContainerdSocket},
		Env:         env,
		Stdout:      s.cfg.Logs.Writer(ContainerdName, "stdout"),
		Stderr:      s.cfg.Logs.Writer(ContainerdName, "stderr"),
		StopTimeout: DefaultContainerdStopWait,
	}
	begin := time.Now()
	rn := s.start(ctx, ContainerdName, api.PhaseSystem,
		runner.WithRestart(p, runner.Policy{Mode: runner.RestartAlways}, s.cfg.Backoff))
	s.mu.Lock()
	s.containerd = rn
	s.mu.Unlock()

	client, err := waitContainerd(ctx, s.cfg.ContainerdSocket, s.cfg.ContainerdTimeout)
	if err != nil {
		return nil, err
	}
	s.logf("containerd ready in %.2fs", time.Since(begin).Seconds())
	s.mu.Lock()
	s.client = client
	s.mu.Unlock()
	return client, nil
}

// waitContainerd connects to containerd once its socket answers a Version
// call, trying every 50 ms. Dialling the socket first keeps grpc's own
// reconnect backoff (seconds) out of the boot time.
func waitContainerd(ctx context.Context, socket string, timeout time.Duration) (*containerd.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if conn, err := net.Dial("unix", socket); err != nil {
			last = err
		} else {
			conn.Close()
			c, err := containerd.New(socket)
			if err == nil {
				vctx, vcancel := context.WithTimeout(ctx, 2*time.Second)
				_, err = c.Version(vctx)
				vcancel()
				if err == nil {
					return c, nil
				}
				c.Close()
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no answer on %s after %s: %v", socket, timeout, last)
		case <-tick.C:
		}
	}
}
