package guest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"
)

// Svcctl runs the system's real svcctl and returns its output and exit
// code; err is set only when it could not run at all (its exit code is
// then -1).
func Svcctl(args ...string) (string, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/bin/svcctl", args...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode(), nil
	}
	if err != nil {
		return string(out), -1, err
	}
	return string(out), 0, nil
}

// CatchStop asks for SIGTERM and SIGINT before anything else happens: a
// Go program that is PID 1 of its namespace and gets SIGTERM before it
// asked for it exits 2, which a check would read as a crash. The channel
// receives the stop.
func CatchStop() chan os.Signal {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	return stop
}
