package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

// The sockets waitfordocker.sh waits for: Docker's, as LinuxKit's
// script, or containerd's, which runs every service of a Keel system and
// which cAdvisor reads too. Both come through the label's bind of the
// system's /var/run (a link to /run), the container's /run being its own.
var waitSockets = []string{"/var/run/docker.sock", containerdSocket}

// waitMain is LinuxKit's waitfordocker.sh: wait until a container engine
// answers on its socket (trying every $WAIT seconds, default 10, at most
// $RETRIES times, default -1: for ever), then run the rest of the
// command line in its place.
func waitMain(args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "waitfordocker.sh: usage: waitfordocker.sh COMMAND [ARG...]")
		return 2
	}
	retries, err := envInt("RETRIES", -1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "waitfordocker.sh:", err)
		return 2
	}
	wait, err := envInt("WAIT", 10)
	if err != nil {
		fmt.Fprintln(os.Stderr, "waitfordocker.sh:", err)
		return 2
	}
	if !waitFor(waitSockets, retries, time.Duration(wait)*time.Second, dialUnix) {
		fmt.Fprintf(os.Stderr, "waitfordocker.sh: no container engine answered on %v after %d tries\n", waitSockets, retries)
		return 1
	}
	err = syscall.Exec(args[0], args, os.Environ())
	fmt.Fprintf(os.Stderr, "waitfordocker.sh: running %s: %v\n", args[0], err)
	return 127
}

func envInt(name string, def int) (int, error) {
	s := os.Getenv(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("$%s=%q is not a number", name, s)
	}
	return n, nil
}

func dialUnix(path string) error {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// waitFor tries each socket in turn until one accepts a connection, up
// to retries rounds (-1: no limit), sleeping between rounds.
func waitFor(sockets []string, retries int, sleep time.Duration, dial func(string) error) bool {
	for try := 0; retries < 0 || try < retries; try++ {
		for _, s := range sockets {
			if dial(s) == nil {
				fmt.Printf("waitfordocker.sh: %s answers\n", s)
				return true
			}
		}
		fmt.Printf("waitfordocker.sh: attempt %d: no container engine yet, sleeping %s...\n", try+1, sleep)
		time.Sleep(sleep)
	}
	return false
}
