// Package api is svcd's HTTP+JSON API on a unix socket: the types, the
// server side (a handler over a Backend) and the Client that svcctl and the
// tests use. Paths are versioned under /v1 so the API can grow.
package api

import (
	"errors"
	"time"

	"github.com/keel-os/keel/internal/bootlog"
)

// Phases a container can belong to. "system" is svcd's own children
// (containerd).
const (
	PhaseOnboot     = "onboot"
	PhaseService    = "service"
	PhaseOnshutdown = "onshutdown"
	PhaseSystem     = "system"
)

// Container is one row of GET /v1/containers.
type Container struct {
	Name  string `json:"name"`
	Phase string `json:"phase"`
	// State is pending, running, stopping, backoff (waiting to restart),
	// exited, failed, stopped or skipped.
	State string `json:"state"`
	// Health is starting, healthy or unhealthy for a service with a
	// healthcheck, else empty.
	Health string `json:"health,omitempty"`
	Image  string `json:"image,omitempty"`
	// Restart is the restart policy of a service.
	Restart   string   `json:"restart,omitempty"`
	DependsOn []string `json:"dependsOn,omitempty"`
	// NextStart is when a container in backoff is started again.
	NextStart *time.Time `json:"nextStart,omitempty"`
	// Pid is the container's main process while it runs, else 0.
	Pid int `json:"pid,omitempty"`
	// ExitCode is the last exit code, absent while it has never exited.
	ExitCode *int `json:"exitCode,omitempty"`
	// OOMKilled says the kernel's OOM killer ended the last run that
	// ended (the container reached its memory limit); it stays set while
	// the next run goes, like ExitCode.
	OOMKilled bool       `json:"oomKilled,omitempty"`
	Restarts  int        `json:"restarts"`
	StartedAt *time.Time `json:"startedAt,omitempty"`
	// Error says why the last run failed when that was not an exit code
	// (a timeout, a runtime error).
	Error string `json:"error,omitempty"`
}

// LogLine is one line of a container's output.
type LogLine struct {
	// Seq numbers the container's lines from 1, so a follower knows
	// which it has seen.
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Text   string    `json:"text"`
}

// Logs is the body of GET /v1/containers/{name}/logs.
type Logs struct {
	Name  string    `json:"name"`
	Lines []LogLine `json:"lines"`
}

// Event is one change of a container's state or health, as streamed by
// GET /v1/events and kept for the boot timeline.
type Event struct {
	Time time.Time `json:"time"`
	// BootNS is CLOCK_BOOTTIME, the clock of init's boot log.
	BootNS int64  `json:"bootNs"`
	Name   string `json:"name"`
	Phase  string `json:"phase"`
	State  string `json:"state,omitempty"`
	Health string `json:"health,omitempty"`
	Pid    int    `json:"pid,omitempty"`
	// ExitCode is set on exited, failed and backoff.
	ExitCode *int `json:"exitCode,omitempty"`
	// OOMKilled is set with ExitCode when the kernel's OOM killer ended
	// the run.
	OOMKilled bool   `json:"oomKilled,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Boot is the body of GET /v1/boot: init's record of its own steps and
// svcd's events since it started.
type Boot struct {
	Init *bootlog.Log `json:"init,omitempty"`
	// InitError says why init's log could not be read.
	InitError string  `json:"initError,omitempty"`
	Events    []Event `json:"events"`
}

// Stats is the body of GET /v1/containers/{name}/stats, from the cgroup v2
// files of the container's cgroup.
type Stats struct {
	Name   string `json:"name"`
	Cgroup string `json:"cgroup"`
	// CPUUsec is cpu.stat usage_usec.
	CPUUsec uint64 `json:"cpuUsec"`
	// MemoryBytes is memory.current.
	MemoryBytes uint64 `json:"memoryBytes"`
	// Pids is pids.current.
	Pids uint64 `json:"pids"`
}

// KmsgRecord is one kernel log record, as GET /v1/dmesg lists them.
type KmsgRecord struct {
	// Level is the syslog severity, 0 (emerg) to 7 (debug).
	Level    int    `json:"level"`
	Facility int    `json:"facility"`
	Seq      uint64 `json:"seq"`
	// BootUS is microseconds since boot, dmesg's timestamp.
	BootUS int64  `json:"bootUs"`
	Text   string `json:"text"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}

// Backend is what the server serves: the supervisor, and PID 1 for
// poweroff and reboot.
type Backend interface {
	Containers() []Container
	// Logs returns the lines held for name; false when name is unknown.
	Logs(name string) ([]LogLine, bool)
	Poweroff() error
	Reboot() error
	Halt() error
	// Start, Stop and Restart control one service; errors wrapping
	// ErrNotFound or ErrConflict become 404 and 409.
	Start(name string) error
	Stop(name string) error
	Restart(name string) error
	// Subscribe streams events until cancel is called.
	Subscribe() (events <-chan Event, cancel func())
	Timeline() Boot
	Stats(name string) (Stats, error)
	// Kmsg returns the kernel log the kernel still holds.
	Kmsg() ([]KmsgRecord, error)
}

// Errors a Backend wraps to choose the HTTP status.
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrUnsupported = errors.New("not supported by this server")
)

// Unsupported answers ErrUnsupported to everything but the listing calls;
// test fakes embed it.
type Unsupported struct{}

// Halt implements Backend.
func (Unsupported) Halt() error { return ErrUnsupported }

// Start implements Backend.
func (Unsupported) Start(string) error { return ErrUnsupported }

// Stop implements Backend.
func (Unsupported) Stop(string) error { return ErrUnsupported }

// Restart implements Backend.
func (Unsupported) Restart(string) error { return ErrUnsupported }

// Subscribe implements Backend with a stream that never sends.
func (Unsupported) Subscribe() (<-chan Event, func()) { return make(chan Event), func() {} }

// Timeline implements Backend.
func (Unsupported) Timeline() Boot { return Boot{InitError: ErrUnsupported.Error()} }

// Stats implements Backend.
func (Unsupported) Stats(string) (Stats, error) { return Stats{}, ErrUnsupported }

// Kmsg implements Backend.
func (Unsupported) Kmsg() ([]KmsgRecord, error) { return nil, ErrUnsupported }
