package main

import (
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// devRandom is /dev/random as the kernel's pool: RNDADDENTROPY to add,
// epoll for POLLOUT to learn that the kernel wants more.
type devRandom struct {
	f    *os.File
	epfd int
}

func openPool(path string) (*devRandom, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(f.Fd())}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, int(f.Fd()), &ev); err != nil {
		f.Close()
		unix.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl %s: %w", path, err)
	}
	return &devRandom{f: f, epfd: epfd}, nil
}

// randPoolInfo is struct rand_pool_info with one 64-bit word of data.
type randPoolInfo struct {
	entropyCount int32
	bufSize      int32
	buf          uint64
}

func (d *devRandom) Add(word uint64) error {
	info := randPoolInfo{entropyCount: 64, bufSize: 8, buf: word}
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, d.f.Fd(), unix.RNDADDENTROPY, uintptr(unsafe.Pointer(&info)))
	if errno != 0 {
		if errno == unix.EPERM {
			return fmt.Errorf("RNDADDENTROPY on /dev/random: %w (the container needs CAP_SYS_ADMIN)", errno)
		}
		return fmt.Errorf("RNDADDENTROPY on /dev/random: %w", errno)
	}
	return nil
}

func (d *devRandom) Wanted(timeoutMs int) (bool, error) {
	var events [1]unix.EpollEvent
	for {
		n, err := unix.EpollWait(d.epfd, events[:], timeoutMs)
		if errors.Is(err, unix.EINTR) {
			// A stop and continue interrupts the wait; wait again.
			continue
		}
		if err != nil {
			return false, fmt.Errorf("epoll_wait on /dev/random: %w", err)
		}
		return n == 1 && events[0].Events&unix.EPOLLOUT != 0, nil
	}
}

func (d *devRandom) Close() error {
	unix.Close(d.epfd)
	return d.f.Close()
}
