// Command poweroff waits, then asks init (PID 1) to shut the machine down
// cleanly and power it off: LinuxKit's linuxkit/poweroff test package
// without a shell. It is installed as /bin/sh and /poweroff.sh too, so
// LinuxKit's command line `["/bin/sh", "/poweroff.sh", "10"]` works as
// written.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/keel-os/keel/internal/initctl"
)

// defaultDelay is the wait when no argument is given.
const defaultDelay = 30 * time.Second

func main() {
	delay, err := parseArgs(os.Args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "poweroff: %v\nusage: /poweroff.sh [SECONDS] (default %s)\n", err, defaultDelay)
		os.Exit(2)
	}
	fmt.Printf("poweroff: powering off in %s\n", delay)
	time.Sleep(delay)
	if err := initctl.Poweroff(); err != nil {
		fmt.Fprintf(os.Stderr, "poweroff: signalling init (PID 1): %v (the container needs pid: host, as the image's label sets)\n", err)
		os.Exit(1)
	}
}

// parseArgs finds the delay in argv, skipping the "sh /poweroff.sh" that
// LinuxKit's command lines start with when this program runs as /bin/sh.
func parseArgs(argv []string) (time.Duration, error) {
	if len(argv) == 0 {
		return defaultDelay, nil
	}
	rest := argv[1:]
	if filepath.Base(argv[0]) == "sh" && len(rest) > 0 && filepath.Base(rest[0]) == "poweroff.sh" {
		rest = rest[1:]
	}
	switch len(rest) {
	case 0:
		return defaultDelay, nil
	case 1:
		s, err := strconv.ParseFloat(rest[0], 64)
		if err != nil || s < 0 || s > 1e6 {
			return 0, fmt.Errorf("%q is not a number of seconds", rest[0])
		}
		return time.Duration(s * float64(time.Second)), nil
	}
	return 0, fmt.Errorf("want at most one argument, got %q", rest)
}
