// Package metadata configures a booted system from where it runs: it finds a
// metadata source (a cloud's metadata service, a NoCloud disk, QEMU fw_cfg,
// a file), fetches the instance's hostname, SSH keys and userdata, and writes
// them to /run/config in LinuxKit's layout so LinuxKit services keep working.
package metadata

import (
	"context"
	"errors"
	"time"
)

// Data is what a provider learned about the instance. Write turns it into
// /run/config.
type Data struct {
	// Provider is the name written to /run/config/provider (LinuxKit's
	// spelling where LinuxKit has the provider, e.g. "AWS").
	Provider string
	// Hostname as the source gave it; validated before use.
	Hostname string
	// SSHKeys are authorized_keys lines.
	SSHKeys []string
	// Userdata is kept raw; nil means the source had none.
	Userdata []byte
	// Files are per-provider extras (e.g. "instance_id", "local_ipv4"),
	// relative slash-separated names under /run/config, written 0644.
	Files map[string]string
}

// Strength says how sure a probe is that the instance runs on its provider.
type Strength int

const (
	// Absent: the provider is not here.
	Absent Strength = iota
	// Weak: an answer other sources could also give (EC2-compatible paths
	// served by OpenStack and others). It wins only when nothing else answered.
	Weak
	// Strong: an answer only this provider gives (its own path, header or
	// token flow). Two clouds cannot both answer strongly.
	Strong
)

func (s Strength) String() string {
	switch s {
	case Weak:
		return "weak"
	case Strong:
		return "strong"
	}
	return "absent"
}

// Provider is one metadata source.
type Provider interface {
	// Name is the short name used by keel.metadata=NAME (e.g. "aws").
	Name() string
	// Probe reports whether the source is present and how sure it is. A
	// non-nil error means Absent.
	Probe(ctx context.Context) (Strength, error)
	// Fetch reads the instance's data. It is called only after a
	// successful Probe.
	Fetch(ctx context.Context) (*Data, error)
}

// ErrNotFound is returned when no provider answered.
var ErrNotFound = errors.New("no metadata source found")

// Limits bound everything read from an untrusted source.
type Limits struct {
	// Response caps each response body or file read.
	Response int64
	// TreeBytes caps the total content of the expanded userdata tree.
	TreeBytes int64
	// TreeEntries caps the number of files and directories in it.
	TreeEntries int
	// TreeDepth caps its nesting.
	TreeDepth int
}

// DefaultLimits are generous for real userdata (AWS allows 16 KiB, GCP
// 256 KiB) and small enough for a tmpfs.
var DefaultLimits = Limits{Response: 1 << 20, TreeBytes: 4 << 20, TreeEntries: 1024, TreeDepth: 16}

// Timing is how long probing waits and retries.
type Timing struct {
	// Attempt bounds one probe attempt.
	Attempt time.Duration
	// Tries is the number of attempts per provider.
	Tries int
	// Backoff is the wait before the second attempt; it doubles after.
	Backoff time.Duration
	// Fetch bounds the whole fetch of the chosen provider.
	Fetch time.Duration
}

// DefaultTiming suits a metadata service that answers in milliseconds and
// a network that may take a second or two to come up.
var DefaultTiming = Timing{Attempt: 2 * time.Second, Tries: 3, Backoff: 250 * time.Millisecond, Fetch: 20 * time.Second}
