package initctl

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// DevicesFDEnv names the environment variable through which PID 1 tells
// svcd that it is still loading the modules of the devices present at
// boot. Its value is the number of a pipe's read end that PID 1 closes
// the write end of when that is done: svcd starts containerd meanwhile,
// which needs no device, and holds the onboot containers, which may (a
// disk to format or mount, a NIC for metadata), until EOF. Without the
// variable, devices are ready.
const DevicesFDEnv = "KEEL_DEVICES_FD"

// DevicesFD is the descriptor number PID 1 gives the pipe in svcd: the
// first after stdin, stdout and stderr.
const DevicesFD = 3

// DevicesPending returns the pipe PID 1 passed in $KEEL_DEVICES_FD, or nil
// when it passed none. It unsets the variable and marks the descriptor
// close-on-exec, so neither reaches svcd's children.
func DevicesPending() (*os.File, error) {
	v, ok := os.LookupEnv(DevicesFDEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(DevicesFDEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("%s=%q: want a descriptor number of 3 or more", DevicesFDEnv, v)
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
		return nil, fmt.Errorf("%s=%d: %w", DevicesFDEnv, fd, err)
	}
	unix.CloseOnExec(fd)
	// Non-blocking, so that the runtime poller owns it and Close ends a
	// read in progress (WaitDevices's cancellation).
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("%s=%d: %w", DevicesFDEnv, fd, err)
	}
	return os.NewFile(uintptr(fd), "devices"), nil
}

// WaitDevices reads f until PID 1 closes the other end, or ctx ends (which
// closes f). It closes f.
func WaitDevices(ctx context.Context, f *os.File) error {
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, f)
		done <- err
	}()
	select {
	case err := <-done:
		f.Close()
		if err != nil {
			return fmt.Errorf("wait for PID 1's device scan: %w", err)
		}
		return nil
	case <-ctx.Done():
		f.Close()
		return ctx.Err()
	}
}
