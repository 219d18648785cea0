package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux input constants (linux/input-event-codes.h, linux/input.h).
const (
	evKey    = 0x01
	keyPower = 116
	keyMax   = 0x2ff
)

// eventSize is struct input_event on 64-bit Linux: a timeval (16 bytes),
// type and code (2 each), value (4).
const eventSize = 24

// isEventDevice reports whether name is an evdev node ("event3").
func isEventDevice(name string) bool {
	rest, ok := strings.CutPrefix(name, "event")
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ioctlRead is _IOC(_IOC_READ, 'E', nr, size).
func ioctlRead(nr, size uintptr) uintptr {
	return 2<<30 | size<<16 | 'E'<<8 | nr
}

// hasPowerKey asks an event device which keys it has (EVIOCGBIT) and
// its name (EVIOCGNAME).
func hasPowerKey(f *os.File) (bool, string, error) {
	var bits [keyMax/8 + 1]byte
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), ioctlRead(0x20+evKey, uintptr(len(bits))), uintptr(unsafe.Pointer(&bits[0]))); e != 0 {
		return false, "", fmt.Errorf("EVIOCGBIT: %w", e)
	}
	var name [256]byte
	n, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), ioctlRead(0x06, uintptr(len(name))), uintptr(unsafe.Pointer(&name[0])))
	dev := "?"
	if e == 0 && n > 0 && int(n) <= len(name) {
		dev = strings.TrimRight(string(name[:n]), "\x00")
	}
	return keyBit(bits[:], keyPower), dev, nil
}

// keyBit reports whether bit k is set in a kernel bitmap (bytes, least
// significant bit first, as on little-endian machines).
func keyBit(bits []byte, k int) bool {
	return k/8 < len(bits) && bits[k/8]&(1<<(k%8)) != 0
}

// waitPress reads input events until the power key is pressed (value 1;
// 0 is its release, 2 a repeat).
func waitPress(r io.Reader) error {
	var ev [eventSize]byte
	for {
		if _, err := io.ReadFull(r, ev[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return errors.New("the device went away")
			}
			return err
		}
		typ := binary.LittleEndian.Uint16(ev[16:])
		code := binary.LittleEndian.Uint16(ev[18:])
		value := int32(binary.LittleEndian.Uint32(ev[20:]))
		if typ == evKey && code == keyPower && value == 1 {
			return nil
		}
	}
}
