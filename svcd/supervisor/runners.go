package supervisor

import (
	"context"
	"errors"
	"time"

	"github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/svcd/runner"
)

// Runners makes the runners the supervisor runs and reaches containerd.
// The supervisor holds the plan (order, dependencies, restarts, health,
// the table) and Runners how a container is run: svcd's daemon gives it
// runc and containerd, tests give fakes.
type Runners interface {
	// OneShot is the runner of an onboot or onshutdown container, run to
	// its end and killed after timeout.
	OneShot(u Unit, timeout time.Duration) runner.Runner
	// ContainerdRunning says whether a containerd already answers: svcd
	// was restarted under a running system.
	ContainerdRunning() bool
	// Containerd is containerd's own runner, which the supervisor
	// restarts whenever it ends; adopt says a containerd already runs and
	// is to be watched first.
	Containerd(adopt bool) (runner.Runner, error)
	// Connect waits until containerd answers and returns what makes the
	// services' runners through it.
	Connect(ctx context.Context) (ServiceRunners, error)
}

// ServiceRunners makes services' runners through a containerd that
// answers.
type ServiceRunners interface {
	// Service is u's own runner, which the supervisor wraps in u's health
	// check and restart policy. An error says the bundle cannot be run.
	Service(u Unit) (runner.Runner, error)
	// Close lets go of containerd once no service runs.
	Close() error
}

// Execer is a runner that can run a command inside what it runs, as the
// exec health check needs.
type Execer interface {
	Exec(ctx context.Context, args []string) (int, error)
}

// errNoExec fails the exec health check of a runner that cannot exec.
var errNoExec = errors.New("the exec health check needs a runner that can run a command inside the container")

func probe(hc *bundle.Healthcheck, base runner.Runner) runner.Prober {
	switch {
	case hc.TCP != "":
		return runner.TCPProbe{Addr: hc.TCP}
	case hc.File != "":
		return runner.FileProbe{Path: hc.File}
	}
	exec := func(context.Context, []string) (int, error) { return -1, errNoExec }
	if e, ok := base.(Execer); ok {
		exec = e.Exec
	}
	return runner.ExecProbe{Exec: exec, Args: hc.Exec}
}
