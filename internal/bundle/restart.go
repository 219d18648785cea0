package bundle

import (
	"fmt"
	"strconv"
	"strings"
)

// RestartMode says when a service that ended is started again.
type RestartMode string

// The restart modes a spec and keel.json can name.
const (
	RestartNo            RestartMode = "no"
	RestartAlways        RestartMode = "always"
	RestartOnFailure     RestartMode = "on-failure"
	RestartUnlessStopped RestartMode = "unless-stopped"
)

// MaxRestartCount bounds N in on-failure:N, so it fits every int.
const MaxRestartCount = 999_999_999

// Restart is a parsed restart policy. The zero value is no policy set
// (the phase's default applies).
type Restart struct {
	Mode RestartMode
	// MaxRestarts bounds on-failure restarts; 0 means no bound.
	MaxRestarts int
}

// ParseRestart reads "no", "always", "on-failure", "on-failure:N" (N
// restarts at most; 0 is no bound, as in Docker) or "unless-stopped".
// Empty is the zero Restart.
func ParseRestart(v string) (Restart, error) {
	switch m := RestartMode(strings.TrimSpace(v)); m {
	case "":
		return Restart{}, nil
	case RestartNo, RestartAlways, RestartOnFailure, RestartUnlessStopped:
		return Restart{Mode: m}, nil
	}
	if rest, ok := strings.CutPrefix(strings.TrimSpace(v), string(RestartOnFailure)+":"); ok {
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 || n > MaxRestartCount || strings.Trim(rest, "0123456789") != "" {
			return Restart{}, fmt.Errorf("invalid restart policy %q: the count after on-failure: must be a whole number 0-%d", v, MaxRestartCount)
		}
		return Restart{Mode: RestartOnFailure, MaxRestarts: n}, nil
	}
	return Restart{}, fmt.Errorf("invalid restart policy %q: use no, always, on-failure, on-failure:N or unless-stopped", v)
}

// String writes the policy back in the spec's spelling; the zero Restart
// is "".
func (r Restart) String() string {
	if r.Mode == RestartOnFailure && r.MaxRestarts > 0 {
		return fmt.Sprintf("%s:%d", r.Mode, r.MaxRestarts)
	}
	return string(r.Mode)
}
