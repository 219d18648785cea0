package bundle

import (
	"fmt"
	"strconv"
	"strings"
)

// Signal is a Linux signal number, as a spec's stopSignal and keel.json's
// stopSignal name it. The packer writes it with String; svcd reads it with
// ParseSignal, so both sides agree on every spelling, real-time signals
// included.
type Signal int

// The real-time range as user space sees it: glibc and musl keep the
// kernel's first two (32 and 33) for their threads, so SIGRTMIN is 34, as
// in Docker and kill(1).
const (
	SigRTMin Signal = 34
	SigRTMax Signal = 64
)

var signalNames = [...]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
	7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
	13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD",
	18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU",
	23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF",
	28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR", 31: "SIGSYS",
}

// signalAliases are other names of the same signals.
var signalAliases = map[string]Signal{
	"SIGIOT": 6, "SIGPOLL": 29, "SIGCLD": 17,
}

// SignalNames lists the standard signal names, for suggestions.
func SignalNames() []string {
	return append([]string(nil), signalNames[1:]...)
}

// Valid says whether s is a signal a service can be sent: 1-31 or the
// real-time range.
func (s Signal) Valid() bool {
	return (s > 0 && int(s) < len(signalNames)) || (s >= SigRTMin && s <= SigRTMax)
}

// String is the canonical spelling: "SIGTERM", and "SIGRTMIN+N" for every
// real-time signal (SIGRTMAX is "SIGRTMIN+30").
func (s Signal) String() string {
	switch {
	case s > 0 && int(s) < len(signalNames):
		return signalNames[s]
	case s >= SigRTMin && s <= SigRTMax:
		return fmt.Sprintf("SIGRTMIN+%d", s-SigRTMin)
	}
	return fmt.Sprintf("signal %d", int(s))
}

// ParseSignal reads a signal written as a name with or without "SIG", in
// any case ("SIGTERM", "term"), a number ("15"), or a real-time signal
// ("SIGRTMIN", "SIGRTMIN+2", "RTMAX-1", "36"). Linux numbering.
func ParseSignal(v string) (Signal, error) {
	v = strings.TrimSpace(v)
	if n, err := strconv.Atoi(v); err == nil {
		if s := Signal(n); s.Valid() {
			return s, nil
		}
		return 0, fmt.Errorf("invalid signal number %d: want 1-31 or %d-%d (real-time)", n, SigRTMin, SigRTMax)
	}
	if len(v) > 32 {
		return 0, fmt.Errorf("unknown signal %.32q...", v)
	}
	u := strings.ToUpper(v)
	if !strings.HasPrefix(u, "SIG") {
		u = "SIG" + u
	}
	if s, ok := signalAliases[u]; ok {
		return s, nil
	}
	for n, name := range signalNames {
		if n > 0 && name == u {
			return Signal(n), nil
		}
	}
	base, off, sign := u, "", 0
	if i := strings.IndexAny(u, "+-"); i >= 0 {
		base, off = u[:i], u[i+1:]
		sign = 1
		if u[i] == '-' {
			sign = -1
		}
	}
	var from Signal
	switch base {
	case "SIGRTMIN":
		from = SigRTMin
	case "SIGRTMAX":
		from = SigRTMax
	default:
		return 0, fmt.Errorf("unknown signal %q", v)
	}
	n := 0
	if sign != 0 {
		var err error
		// Digits only: Atoi would take "+2" after "SIGRTMIN+".
		if off == "" || strings.Trim(off, "0123456789") != "" {
			return 0, fmt.Errorf("invalid real-time signal %q: want SIGRTMIN+N or SIGRTMAX-N", v)
		}
		if n, err = strconv.Atoi(off); err != nil || n > int(SigRTMax-SigRTMin) {
			return 0, fmt.Errorf("invalid real-time signal %q: N must be 0-%d", v, SigRTMax-SigRTMin)
		}
	}
	if (from == SigRTMin && sign < 0) || (from == SigRTMax && sign > 0) {
		return 0, fmt.Errorf("invalid real-time signal %q: want SIGRTMIN+N or SIGRTMAX-N", v)
	}
	s := from + Signal(sign*n)
	if !s.Valid() {
		return 0, fmt.Errorf("invalid real-time signal %q: outside %d-%d", v, SigRTMin, SigRTMax)
	}
	return s, nil
}

// MarshalText writes the canonical name.
func (s Signal) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("invalid signal %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads any spelling ParseSignal accepts.
func (s *Signal) UnmarshalText(b []byte) error {
	v, err := ParseSignal(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
