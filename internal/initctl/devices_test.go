package initctl

import (
	"context"
	"errors"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestDevicesPendingEnv(t *testing.T) {
	tests := []struct {
		name, value string
		set         bool
		wantFile    bool
		wantErr     bool
	}{
		{name: "unset"},
		{name: "not a number", value: "three", set: true, wantErr: true},
		{name: "stdio", value: "1", set: true, wantErr: true},
		{name: "closed descriptor", value: "999", set: true, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Unsetenv(DevicesFDEnv)
			if tt.set {
				t.Setenv(DevicesFDEnv, tt.value)
			}
			f, err := DevicesPending()
			if (err != nil) != tt.wantErr || (f != nil) != tt.wantFile {
				t.Fatalf("got %v, %v; want a file %v, an error %v", f, err, tt.wantFile, tt.wantErr)
			}
			if _, ok := os.LookupEnv(DevicesFDEnv); ok {
				t.Errorf("%s still set: svcd's children would inherit it", DevicesFDEnv)
			}
		})
	}
}

// pendingPipe passes a pipe's read end the way PID 1 does and returns
// what DevicesPending made of it, with the write end.
func pendingPipe(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil { // no O_CLOEXEC, as after exec
		t.Fatal(err)
	}
	w := os.NewFile(uintptr(p[1]), "w")
	t.Cleanup(func() { w.Close() })
	t.Setenv(DevicesFDEnv, strconv.Itoa(p[0]))
	f, err := DevicesPending()
	if err != nil || f == nil {
		t.Fatalf("DevicesPending: got %v, %v; want the pipe", f, err)
	}
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("descriptor flags %#x, %v: want close-on-exec", flags, err)
	}
	return f, w
}

func TestWaitDevicesEOF(t *testing.T) {
	f, w := pendingPipe(t)
	done := make(chan error, 1)
	go func() { done <- WaitDevices(context.Background(), f) }()
	select {
	case err := <-done:
		t.Fatalf("returned %v before the write end closed", err)
	case <-time.After(50 * time.Millisecond):
	}
	w.Close()
	if err := <-done; err != nil {
		t.Errorf("got %v, want nil at EOF", err)
	}
}

func TestWaitDevicesCancel(t *testing.T) {
	f, _ := pendingPipe(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- WaitDevices(ctx, f) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("WaitDevices did not return after its context ended")
	}
}
