package spec

import (
	"fmt"
	"math"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keel-os/keel/internal/bundle"
	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// These helpers interpret the small string languages inside the YAML
// (binds, tmpfs, rlimits, signals...). Parse uses them to reject bad values
// with a position; packer/bundle uses them to build the OCI spec, so both
// agree on what a value means.

var allCaps = func() []string {
	var caps []string
	for _, c := range capability.ListKnown() {
		caps = append(caps, "CAP_"+strings.ToUpper(c.String()))
	}
	sort.Strings(caps)
	return caps
}()

var capSet = func() map[string]bool {
	m := map[string]bool{}
	for _, c := range allCaps {
		m[c] = true
	}
	return m
}()

// AllCapabilities returns every capability name Keel knows ("CAP_CHOWN"...),
// sorted. It is what `capabilities: [all]` grants.
func AllCapabilities() []string {
	return append([]string(nil), allCaps...)
}

// IsCapability reports whether name is a known capability ("CAP_NET_ADMIN").
// Like LinuxKit, the name must be written in upper case with its CAP_ prefix.
func IsCapability(name string) bool { return capSet[name] }

// ExpandCapabilities interprets a capability list: a lone "all" (any case)
// means every capability, a lone "none" means no capability, anything else
// is taken as written.
func ExpandCapabilities(list []string) []string {
	if len(list) == 1 {
		switch strings.ToLower(list[0]) {
		case "all":
			return AllCapabilities()
		case "none":
			return []string{}
		}
	}
	return list
}

// Bind is a parsed binds entry "src:dst[:opt,opt...]".
type Bind struct {
	Source, Destination string
	// Options are the mount options, always including "rbind".
	Options []string
}

// ParseBind reads a binds entry the way LinuxKit does: without options the
// mount is "rw,rbind,rshared"; with options, "rbind" is added to them. A
// relative destination is taken from the container's root ("etc" is
// "/etc"), as LinuxKit's runc does; an empty option list after the last
// ':' means just "rbind". The validator warns about both.
func ParseBind(s string) (Bind, error) {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) < 2:
		return Bind{}, fmt.Errorf("bind %q: want source:destination[:options]", s)
	case len(parts) > 3:
		return Bind{}, fmt.Errorf("bind %q: too many ':' (want source:destination[:options])", s)
	}
	b := Bind{Source: parts[0], Destination: parts[1]}
	if b.Source == "" {
		// runc cannot bind "" (mount fails at boot).
		return Bind{}, fmt.Errorf("bind %q: empty source (the container would fail to start): name a host path or a volume", s)
	}
	if b.Destination == "" {
		// "" is the container's root: binding over it hides the image.
		return Bind{}, fmt.Errorf("bind %q: empty destination (it would cover the container's whole filesystem): name a path in the container", s)
	}
	b.Destination = absDest(b.Destination)
	if len(parts) == 3 {
		b.Options = append(splitOptions(parts[2]), "rbind")
	} else {
		b.Options = []string{"rw", "rbind", "rshared"}
	}
	return b, nil
}

// splitOptions splits a comma-separated option list, dropping empty
// entries ("" and "ro,,rshared" are accepted by LinuxKit; runc ignores
// empty options).
func splitOptions(s string) []string {
	var out []string
	for _, o := range strings.Split(s, ",") {
		if o != "" {
			out = append(out, o)
		}
	}
	return out
}

// absDest makes a mount destination absolute: runc (and so LinuxKit) takes
// a relative one from the container's root.
func absDest(d string) string {
	if path.IsAbs(d) {
		return d
	}
	return path.Join("/", d)
}

// bindOddities lists what is odd about a binds entry that ParseBind
// accepts (a relative destination, empty options), for warnings.
func bindOddities(s string) []string {
	parts := strings.Split(s, ":")
	var out []string
	if len(parts) >= 2 && parts[1] != "" && !path.IsAbs(parts[1]) {
		out = append(out, fmt.Sprintf("relative destination %q is taken as %q", parts[1], absDest(parts[1])))
	}
	if len(parts) == 3 && len(splitOptions(parts[2])) != len(strings.Split(parts[2], ",")) {
		out = append(out, "empty mount options are ignored")
	}
	return out
}

// ParseTmpfs reads a tmpfs entry "dst[:opt,opt...]". A relative
// destination is taken from the container's root, as for binds.
func ParseTmpfs(s string) (dest string, opts []string, err error) {
	parts := strings.Split(s, ":")
	if len(parts) > 2 {
		return "", nil, fmt.Errorf("tmpfs %q: too many ':' (want destination[:options])", s)
	}
	if parts[0] == "" {
		return "", nil, fmt.Errorf("tmpfs %q: empty destination (it would cover the container's whole filesystem): name a path in the container", s)
	}
	if len(parts) == 2 {
		opts = splitOptions(parts[1])
	}
	return absDest(parts[0]), opts, nil
}

var rlimitNames = map[string]bool{
	"RLIMIT_CPU": true, "RLIMIT_FSIZE": true, "RLIMIT_DATA": true, "RLIMIT_STACK": true,
	"RLIMIT_CORE": true, "RLIMIT_RSS": true, "RLIMIT_NPROC": true, "RLIMIT_NOFILE": true,
	"RLIMIT_MEMLOCK": true, "RLIMIT_AS": true, "RLIMIT_LOCKS": true, "RLIMIT_SIGPENDING": true,
	"RLIMIT_MSGQUEUE": true, "RLIMIT_NICE": true, "RLIMIT_RTPRIO": true, "RLIMIT_RTTIME": true,
}

// ParseRlimit reads an rlimits entry "type,soft,hard" such as
// "nofile,1024,unlimited". The RLIMIT_ prefix and case are optional.
func ParseRlimit(s string) (specs.POSIXRlimit, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return specs.POSIXRlimit{}, fmt.Errorf("rlimit %q: want type,soft,hard (e.g. nofile,1024,4096)", s)
	}
	typ := strings.ToUpper(strings.TrimSpace(parts[0]))
	if !strings.HasPrefix(typ, "RLIMIT_") {
		typ = "RLIMIT_" + typ
	}
	if !rlimitNames[typ] {
		var names []string
		for n := range rlimitNames {
			names = append(names, n)
		}
		return specs.POSIXRlimit{}, fmt.Errorf("rlimit %q: unknown limit %q%s", s, parts[0], didYouMean(typ, names))
	}
	limit := func(v string) (uint64, error) {
		v = strings.TrimSpace(v)
		if strings.EqualFold(v, "unlimited") {
			return math.MaxUint64, nil
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("rlimit %q: %q is not a number or \"unlimited\"", s, v)
		}
		return n, nil
	}
	soft, err := limit(parts[1])
	if err != nil {
		return specs.POSIXRlimit{}, err
	}
	hard, err := limit(parts[2])
	if err != nil {
		return specs.POSIXRlimit{}, err
	}
	if soft > hard {
		return specs.POSIXRlimit{}, fmt.Errorf("rlimit %q: soft limit is above the hard limit (the kernel refuses it: the container would not start)", s)
	}
	return specs.POSIXRlimit{Type: typ, Soft: soft, Hard: hard}, nil
}

// NormalizeMount fills in what a mounts entry may leave out, as LinuxKit
// does: the type from a well-known source ("proc", "sysfs"...) or from the
// destination /dev (tmpfs), the source from the type, the destination from
// the type's usual place.
func NormalizeMount(m specs.Mount) (specs.Mount, error) {
	if m.Type == "" {
		switch m.Source {
		case "mqueue", "devpts", "proc", "sysfs", "cgroup", "cgroup2":
			m.Type = m.Source
		}
	}
	if m.Type == "" && m.Destination == "/dev" {
		m.Type = "tmpfs"
	}
	if m.Type == "" {
		return m, fmt.Errorf("mount for destination %q has no type (add type: bind, tmpfs, ...)", m.Destination)
	}
	if m.Source == "" {
		m.Source = m.Type
	}
	if m.Destination == "" {
		m.Destination = map[string]string{
			"proc": "/proc", "devpts": "/dev/pts", "sysfs": "/sys",
			"cgroup": "/sys/fs/cgroup", "cgroup2": "/sys/fs/cgroup", "mqueue": "/dev/mqueue",
		}[m.Type]
	}
	if m.Destination == "" {
		return m, fmt.Errorf("mount of type %q has no destination", m.Type)
	}
	m.Destination = absDest(m.Destination)
	return m, nil
}

// Namespace values: "" (the default), "host" or "root" (share the host's),
// "new" (a fresh one), "none" (net only: a fresh, unconnected one), or an
// absolute path to join, such as /run/netns/wg0.
func checkNamespace(kind, v string) error {
	switch v {
	case "", "host", "root", "new":
		return nil
	case "none":
		if kind == "net" {
			return nil
		}
	}
	if path.IsAbs(v) {
		return nil
	}
	if kind == "net" {
		return fmt.Errorf("invalid %s namespace %q: use host, new, none or an absolute path such as /run/netns/NAME", kind, v)
	}
	return fmt.Errorf("invalid %s namespace %q: use host, new or an absolute path", kind, v)
}

// Values of an image entry's seccomp field.
const (
	SeccompDefault    = "default"
	SeccompUnconfined = "unconfined"
)

// checkRestart accepts the restart policies keel.json knows (one grammar,
// internal/bundle's, which svcd reads).
func checkRestart(v string) error {
	_, err := bundle.ParseRestart(v)
	return err
}

// ParseDuration reads a positive Go duration such as "10s" or "1m30s".
func ParseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		hint := ""
		if _, nerr := strconv.Atoi(v); nerr == nil {
			hint = fmt.Sprintf(" (add a unit, e.g. \"%ss\")", v)
		}
		return 0, fmt.Errorf("invalid duration %q%s", v, hint)
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", v)
	}
	return d, nil
}

// NormalizeSignal turns "TERM", "sigterm", "SIGTERM" or "15" into "SIGTERM",
// and real-time signals ("SIGRTMAX-1", "RTMIN+2", "36") into "SIGRTMIN+N":
// the spelling svcd reads (internal/bundle's Signal). Linux numbering.
func NormalizeSignal(s string) (string, error) {
	sig, err := bundle.ParseSignal(s)
	if err != nil {
		u := strings.ToUpper(strings.TrimSpace(s))
		if !strings.HasPrefix(u, "SIG") {
			u = "SIG" + u
		}
		return "", fmt.Errorf("%w%s", err, didYouMean(u, bundle.SignalNames()))
	}
	return sig.String(), nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// checkName accepts names usable as a containerd id and a directory name.
func checkName(name string) error {
	if len(name) > 63 {
		return fmt.Errorf("name %q is longer than 63 characters", name)
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid name %q: use letters, digits, '-', '_' and '.', starting with a letter or digit", name)
	}
	return nil
}

var volumeNameRE = regexp.MustCompile(`^[a-z0-9_-]+$`)

// ParseMode reads an octal permission string such as "0644" (or "0o644").
func ParseMode(s string) (uint32, error) {
	m, err := strconv.ParseUint(strings.TrimPrefix(strings.TrimPrefix(s, "0o"), "0O"), 8, 32)
	if err != nil || m > 07777 {
		return 0, fmt.Errorf("invalid mode %q: want an octal string such as \"0644\"", s)
	}
	return uint32(m), nil
}
