// Package daemon is svcd, Keel's service supervisor, started by PID 1: it
// runs the onboot containers, starts containerd and the services, serves
// the API on a unix socket, and on SIGTERM stops it all in order and exits
// 0. It is a package rather than a main so that Keel's multi-call system
// binary can hold it; it wires the other packages together, giving the
// supervisor its real runners (runners.go), and its flags exist so tests
// can run it on a host against a temp dir.
package daemon

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/keel-os/keel/internal/initctl"
	"github.com/keel-os/keel/internal/layout"
	"github.com/keel-os/keel/svcd/api"
	"github.com/keel-os/keel/svcd/logs"
	"github.com/keel-os/keel/svcd/supervisor"
	"golang.org/x/sys/unix"
)

// backend adds PID 1's power controls to the supervisor for the API.
type backend struct{ *supervisor.Supervisor }

func (backend) Poweroff() error { return initctl.Poweroff() }
func (backend) Reboot() error   { return initctl.Reboot() }
func (backend) Halt() error     { return initctl.Halt() }

// Kmsg reads the kernel log for svcctl dmesg, so a container needs only the
// API socket to see it, not /dev/kmsg.
func (backend) Kmsg() ([]api.KmsgRecord, error) {
	recs, err := logs.ReadKmsg("/dev/kmsg")
	out := make([]api.KmsgRecord, len(recs))
	for i, r := range recs {
		out[i] = api.KmsgRecord{Level: r.Level, Facility: r.Facility, Seq: r.Seq, BootUS: r.BootUS, Text: r.Text}
	}
	return out, err
}

// Main runs svcd with the command-line arguments args (without the
// program name) and returns its exit status.
func Main(args []string) int {
	flags := flag.NewFlagSet("svcd", flag.ExitOnError)
	var cfg supervisor.Config
	var rn runners
	socket := flags.String("socket", layout.SvcdSocket, "API socket `path`")
	flags.StringVar(&cfg.ContainersDir, "containers", layout.ContainersDir, "`dir` holding onboot/, services/ and onshutdown/ bundles")
	flags.StringVar(&rn.Runc, "runc", layout.Runc, "runc binary `path`")
	flags.StringVar(&rn.RuncRoot, "runc-root", "", "runc state `dir` for onboot/onshutdown (default: runc's own)")
	flags.StringVar(&rn.ContainerdPath, "containerd", layout.Containerd, "containerd binary `path`")
	flags.StringVar(&rn.ContainerdConfig, "containerd-config", layout.ContainerdConfig, "containerd config `file`")
	flags.StringVar(&rn.ContainerdSocket, "containerd-socket", layout.ContainerdSocket, "containerd socket `path` (passed to containerd as --address)")
	flags.StringVar(&rn.FIFODir, "fifo-dir", "", "`dir` for service output FIFOs (default: containerd's, /run/containerd/fifo)")
	flags.DurationVar(&cfg.OneShotTimeout, "onboot-timeout", supervisor.DefaultOneShotTimeout, "default time limit of onboot and onshutdown containers")
	flags.DurationVar(&rn.ContainerdTimeout, "containerd-timeout", defaultContainerdTimeout, "how long to wait for containerd to answer")
	flags.StringVar(&rn.StateDir, "state-dir", "", "`dir` for svcd's runtime files (default: the socket's directory)")
	flags.StringVar(&cfg.BootLog, "boot-log", layout.BootLog, "init's boot record `file`, for svcctl boot")
	var lo logOptions
	flags.IntVar(&lo.lines, "log-lines", logs.DefaultMaxLines, "lines kept in memory per container")
	flags.IntVar(&lo.bytes, "log-bytes", logs.DefaultMaxBytes, "bytes of text kept in memory per container")
	flags.StringVar(&lo.dir, "log-dir", "", "also write each container's output to `dir`/<name>.log (e.g. /var/log); empty: memory only")
	flags.Int64Var(&lo.fileBytes, "log-file-bytes", logs.DefaultFileMaxBytes, "size at which a log file is rotated")
	flags.IntVar(&lo.files, "log-files", logs.DefaultFileKeep, "rotated log files kept per container besides the current one")
	args, err := withConfigFile(layout.SvcdConfig, args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "svcd: %v (going on without it)\n", err)
	}
	flags.Parse(args) //nolint:errcheck // ExitOnError
	if rn.StateDir == "" {
		rn.StateDir = filepath.Dir(*socket)
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "svcd: unexpected arguments %q\n", flags.Args())
		flags.Usage()
		return 2
	}
	// Read before anything is started, so no child inherits the pipe.
	devices, err := initctl.DevicesPending()
	if err != nil {
		fmt.Fprintf(os.Stderr, "svcd: %v (not waiting for PID 1's device scan)\n", err)
	}
	if devices != nil {
		cfg.WaitDevices = func(ctx context.Context) error { return initctl.WaitDevices(ctx, devices) }
	}
	return run(cfg, &rn, *socket, lo)
}

// logOptions are the flags of the log store.
type logOptions struct {
	lines, bytes int
	dir          string
	fileBytes    int64
	files        int
}

func run(cfg supervisor.Config, rn *runners, socket string, lo logOptions) int {
	// Catching SIGPIPE (rather than ignoring it, which children would
	// inherit) keeps a closed console from killing svcd.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, initctl.ShutdownSignal, syscall.SIGINT)

	cfg.Logs = logs.NewStore(os.Stdout)
	cfg.Logs.MaxLines, cfg.Logs.MaxBytes = lo.lines, lo.bytes
	logf := func(format string, args ...any) { cfg.Logs.Printf(supervisor.Self, format, args...) }
	if lo.dir != "" {
		keep := lo.files
		if keep == 0 {
			keep = -1 // the flag's 0 means none, Files' 0 means the default
		}
		cfg.Logs.Files = &logs.Files{Dir: lo.dir, MaxBytes: lo.fileBytes, Keep: keep,
			OnError: func(name string, err error) { logf("log file of %s off, memory only: %v", name, err) }}
		defer cfg.Logs.Files.Close()
	}
	if rn.ContainerdTimeout <= 0 {
		rn.ContainerdTimeout = defaultContainerdTimeout
	}
	rn.CgroupRoot, rn.Logs = cfg.CgroupRoot, cfg.Logs
	cfg.Runners = rn
	logf("starting, containers in %s", cfg.ContainersDir)
	sup, err := supervisor.New(cfg)
	if err != nil {
		logf("cannot start: %v", err)
		return 1
	}

	apiCtx, stopAPI := context.WithCancel(context.Background())
	apiDone := make(chan struct{})
	if l, err := api.Listen(socket); err != nil {
		// Without its API the system still boots; only svcctl is lost.
		logf("API unavailable: %v", err)
		close(apiDone)
	} else {
		go func() {
			defer close(apiDone)
			if err := api.Serve(apiCtx, l, backend{sup}); err != nil {
				logf("API stopped: %v", err)
			}
		}()
		logf("API listening on %s", socket)
	}

	bootCtx, cancelBoot := context.WithCancel(context.Background())
	booted := make(chan struct{})
	go func() {
		defer close(booted)
		sup.Boot(bootCtx)
	}()

	sig := <-stop
	logf("received %s, shutting down", unix.SignalName(sig.(syscall.Signal)))
	cancelBoot()
	<-booted
	sup.Shutdown()
	stopAPI()
	select {
	case <-apiDone:
	case <-time.After(3 * time.Second):
	}
	_ = os.Remove(socket)
	return 0
}
