package daemon

import (
	"os"
	"path/filepath"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/internal/layout"
	"github.com/keel-os/keel/svcd/logs"
	"github.com/keel-os/keel/svcd/prepare"
	"github.com/keel-os/keel/svcd/runner"
	"github.com/keel-os/keel/svcd/supervisor"
)

// Defaults of the containerd flags.
const (
	defaultContainerdTimeout = 60 * time.Second
	// containerdStopWait is containerd's time between SIGTERM and SIGKILL.
	containerdStopWait = 5 * time.Second
)

// runners is svcd's supervisor.Runners: runc for onboot and onshutdown
// containers, containerd for services, and containerd itself as svcd's
// child. Its fields come from svcd's flags.
type runners struct {
	Runc string
	// RuncRoot is runc's state dir for onboot/onshutdown; empty means
	// runc's default.
	RuncRoot         string
	ContainerdPath   string
	ContainerdConfig string
	ContainerdSocket string
	// ContainerdTimeout bounds the wait for containerd to answer.
	ContainerdTimeout time.Duration
	// FIFODir is where service output FIFOs go; empty means containerd's
	// default.
	FIFODir string
	// StateDir holds svcd's runtime files (containerd's output FIFO).
	StateDir string
	// CgroupRoot is the cgroup v2 mount; empty means /sys/fs/cgroup.
	CgroupRoot string
	Logs       *logs.Store

	ctrdOut *os.File
}

func (r *runners) logf(format string, args ...any) {
	r.Logs.Printf(supervisor.Self, format, args...)
}

// OneShot implements supervisor.Runners: `runc run`, so the container is
// runc's child and its exit code runc's.
func (r *runners) OneShot(u supervisor.Unit, timeout time.Duration) runner.Runner {
	rc := &runner.Runc{
		Runc:    r.Runc,
		Root:    r.RuncRoot,
		ID:      u.ID,
		Bundle:  u.Dir,
		Stdout:  r.Logs.Writer(u.Name, "stdout"),
		Stderr:  r.Logs.Writer(u.Name, "stderr"),
		Timeout: timeout,
	}
	if u.Keel != nil && u.Keel.Runtime != nil {
		rt := u.Keel.Runtime
		// As for services, LinuxKit's runtime section: its mounts,
		// directories and cgroups now, its interfaces and namespace binds
		// from a hook runc runs between create and start.
		p := &prepare.Runtime{R: rt, CgroupRoot: r.CgroupRoot, Rootfs: filepath.Join(u.Dir, "rootfs")}
		rc.Prepare = p.Create
		if len(rt.Interfaces) > 0 || rt.BindNS != (bundle.BindNS{}) {
			self, err := os.Executable()
			if err != nil {
				self = layout.Svcd
			}
			rc.CreatedHook = prepare.Hook(self, u.Dir)
		}
	}
	return rc
}

// services makes service runners through one containerd client.
type services struct {
	*runners
	client *containerd.Client
}

// Service implements supervisor.ServiceRunners: a containerd task run
// straight from the bundle, with LinuxKit's runtime section around its
// creation.
func (s *services) Service(u supervisor.Unit) (runner.Runner, error) {
	k := u.Keel
	spec, err := runner.LoadSpec(u.Dir)
	if err != nil {
		return nil, err
	}
	sig, err := runner.ParseSignal(k.StopSignal, syscall.SIGTERM)
	if err != nil {
		return nil, err
	}
	base := &runner.Containerd{
		Client:      s.client,
		ID:          u.ID,
		Bundle:      u.Dir,
		Spec:        spec,
		Runc:        s.Runc,
		FIFODir:     s.FIFODir,
		Stdout:      s.Logs.Writer(u.Name, "stdout"),
		Stderr:      s.Logs.Writer(u.Name, "stderr"),
		StopSignal:  sig,
		StopTimeout: time.Duration(k.StopTimeout),
		CgroupRoot:  s.CgroupRoot,
	}
	if k.Runtime != nil {
		base.Namespace = k.Runtime.Namespace
		// The bundles' config.json says root.path "rootfs".
		base.Hooks = &prepare.Runtime{R: k.Runtime, CgroupRoot: s.CgroupRoot, Rootfs: filepath.Join(u.Dir, "rootfs")}
	}
	return base, nil
}

// Close implements supervisor.ServiceRunners.
func (s *services) Close() error { return s.client.Close() }
