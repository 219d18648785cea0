package boot

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// cmdline holds the kernel command line's parameters: key -> value, "" for
// bare flags. A later parameter overrides an earlier one, as in the kernel.
type cmdline map[string]string

// Parameters init reads.
const (
	paramDebug           = "keel.debug"
	paramShutdownTimeout = "keel.shutdown_timeout"
	// paramColdplug=cpu also coldplugs what the CPU's features match.
	paramColdplug = "keel.coldplug"
)

func readCmdline() cmdline {
	raw, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return cmdline{}
	}
	return parseCmdline(string(raw))
}

// parseCmdline splits a kernel command line into parameters. Double quotes
// group spaces into one value (key="a b"), as the kernel's parser allows.
func parseCmdline(s string) cmdline {
	c := cmdline{}
	var words []string
	var cur strings.Builder
	inQuote, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
			inWord = true
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	for _, w := range words {
		if w == "--" {
			break // the rest is for init's argv, not parameters
		}
		k, v, _ := strings.Cut(w, "=")
		c[k] = v
	}
	return c
}

func (c cmdline) has(key string) bool {
	_, ok := c[key]
	return ok
}

// seconds reads key as a whole number of seconds, giving def when absent.
func (c cmdline) seconds(key string, def time.Duration) (time.Duration, error) {
	v, ok := c[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return def, fmt.Errorf("%s=%q on the kernel command line: want a whole number of seconds; using %s", key, v, def)
	}
	return time.Duration(n) * time.Second, nil
}
