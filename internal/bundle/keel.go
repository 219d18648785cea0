// Package bundle defines keel.json: what the packer records next to each
// container's OCI config.json for what the OCI runtime spec has no room for
// (restart policy, dependencies, timeouts, LinuxKit's runtime section). The
// packer writes it; svcd reads it. It is the only contract between the two
// about a container, so it carries a version.
package bundle

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Version is the keel.json format version this package writes and reads.
const Version = 1

// FileName is the name of the file inside each bundle directory.
const FileName = "keel.json"

// LabelKey is the image label in which LinuxKit-style images carry their
// default configuration (JSON or YAML holding the spec's image fields).
const LabelKey = "org.mobyproject.config"

// Phase says when a container runs.
type Phase string

// The phases, in the order the system goes through them.
const (
	PhaseOnboot     Phase = "onboot"
	PhaseService    Phase = "service"
	PhaseOnshutdown Phase = "onshutdown"
)

// Keel is the content of keel.json.
type Keel struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
	Phase   Phase  `json:"phase"`
	// Image is the reference the container was built from, for display.
	Image string `json:"image,omitempty"`

	// Restart is one of "no", "always", "on-failure", "on-failure:N",
	// "unless-stopped" (ParseRestart reads it). Empty means the phase's
	// default.
	Restart string `json:"restart,omitempty"`
	// DependsOn names services that must be up before this one starts.
	DependsOn []string `json:"dependsOn,omitempty"`
	// StopSignal is a signal name such as "SIGTERM" or "SIGRTMIN+2"
	// (Signal.String writes it, ParseSignal reads it); empty means SIGTERM.
	StopSignal string `json:"stopSignal,omitempty"`
	// StopTimeout is how long to wait after StopSignal before SIGKILL.
	StopTimeout Duration `json:"stopTimeout,omitempty"`
	// Timeout bounds an onboot or onshutdown container's run.
	Timeout Duration `json:"timeout,omitempty"`
	// Healthcheck probes a running service; while it has not passed, the
	// service is not up for its dependents, and when it keeps failing the
	// service is stopped and its restart policy applies.
	Healthcheck *Healthcheck `json:"healthcheck,omitempty"`
	// Console echoes the container's output to the console as
	// "<name>: <line>" (svcd keeps it in the log ring either way).
	Console bool `json:"console,omitempty"`

	// Runtime is LinuxKit's runtime section, applied around container creation.
	Runtime *Runtime `json:"runtime,omitempty"`
}

// Healthcheck says how to probe a service. Exactly one of Exec, TCP and
// File is set.
type Healthcheck struct {
	// Exec is a command run inside the container; exit 0 is healthy.
	Exec []string `json:"exec,omitempty"`
	// TCP is a host:port connected to from the container's network
	// namespace; an accepted connection is healthy.
	TCP string `json:"tcp,omitempty"`
	// File is a path inside the container; existing is healthy.
	File string `json:"file,omitempty"`
	// Interval between probes; 0 means 30 s.
	Interval Duration `json:"interval,omitempty"`
	// Timeout of one probe; 0 means 30 s.
	Timeout Duration `json:"timeout,omitempty"`
	// StartPeriod is the grace after start during which failures do not
	// count against Retries.
	StartPeriod Duration `json:"startPeriod,omitempty"`
	// Retries is how many failures in a row make the service unhealthy;
	// 0 means 3.
	Retries int `json:"retries,omitempty"`
}

// Runtime mirrors LinuxKit's `runtime` image field.
type Runtime struct {
	Cgroups    []string    `json:"cgroups,omitempty"`
	Mounts     []Mount     `json:"mounts,omitempty"`
	Mkdir      []string    `json:"mkdir,omitempty"`
	Interfaces []Interface `json:"interfaces,omitempty"`
	BindNS     BindNS      `json:"bindNS,omitempty"`
	Namespace  string      `json:"namespace,omitempty"`
}

// Mount is an OCI-style mount performed on the host before the container starts.
type Mount struct {
	Destination string   `json:"destination"`
	Type        string   `json:"type,omitempty"`
	Source      string   `json:"source,omitempty"`
	Options     []string `json:"options,omitempty"`
}

// Interface is a network interface moved into or created for the container.
type Interface struct {
	Name         string `json:"name,omitempty"`
	Add          string `json:"add,omitempty"`
	Peer         string `json:"peer,omitempty"`
	CreateInRoot bool   `json:"createInRoot,omitempty"`
}

// BindNS lists paths where the container's namespaces are bind-mounted.
type BindNS struct {
	Cgroup string `json:"cgroup,omitempty"`
	Ipc    string `json:"ipc,omitempty"`
	Mnt    string `json:"mnt,omitempty"`
	Net    string `json:"net,omitempty"`
	Pid    string `json:"pid,omitempty"`
	User   string `json:"user,omitempty"`
	Uts    string `json:"uts,omitempty"`
}

// Duration is a time.Duration written in JSON as a Go duration string ("10s").
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string, or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration must be a string like \"10s\": %w", err)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// Read loads and checks dir/keel.json.
func Read(dir string) (*Keel, error) {
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		return nil, fmt.Errorf("reading bundle metadata: %w", err)
	}
	k, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, FileName), err)
	}
	return k, nil
}

// Parse decodes and checks the content of a keel.json file.
func Parse(b []byte) (*Keel, error) {
	var k Keel
	if err := json.Unmarshal(b, &k); err != nil {
		return nil, fmt.Errorf("parsing keel.json: %w", err)
	}
	if k.Version != Version {
		return nil, fmt.Errorf("keel.json version %d, this build understands %d", k.Version, Version)
	}
	if k.StopSignal != "" {
		if _, err := ParseSignal(k.StopSignal); err != nil {
			return nil, fmt.Errorf("keel.json stopSignal: %w", err)
		}
	}
	if _, err := ParseRestart(k.Restart); err != nil {
		return nil, fmt.Errorf("keel.json restart: %w", err)
	}
	return &k, nil
}

// Marshal returns the canonical (indented, stable) encoding of k, with the
// current Version filled in.
func Marshal(k *Keel) ([]byte, error) {
	c := *k
	c.Version = Version
	b, err := json.MarshalIndent(&c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
