// Package api is svcd's HTTP+JSON API on a unix socket: the types, the
// server side (a handler over a Backend) and the Client that svcctl and the
// tests use. Paths are versioned under /v1 so the API can grow.
package api

import (
	"time"
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
	// State is pending, running, stopping, restarting, exited, failed or
	// stopped.
	State string `json:"state"`
	// Pid is the container's main process while it runs, else 0.
	Pid int `json:"pid,omitempty"`
	// ExitCode is the last exit code, absent while it has never exited.
	ExitCode  *int       `json:"exitCode,omitempty"`
	Restarts  int        `json:"restarts"`
	StartedAt *time.Time `json:"startedAt,omitempty"`
	// Error says why the last run failed when that was not an exit code
	// (a timeout, a runtime error).
	Error string `json:"error,omitempty"`
}

// LogLine is one line of a container's output.
type LogLine struct {
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Text   string    `json:"text"`
}

// Logs is the body of GET /v1/containers/{name}/logs.
type Logs struct {
	Name  string    `json:"name"`
	Lines []LogLine `json:"lines"`
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
}
