package main

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// event encodes one struct input_event.
func event(typ, code uint16, value int32) []byte {
	b := make([]byte, eventSize)
	binary.LittleEndian.PutUint16(b[16:], typ)
	binary.LittleEndian.PutUint16(b[18:], code)
	binary.LittleEndian.PutUint32(b[20:], uint32(value))
	return b
}

func TestWaitPress(t *testing.T) {
	const synReport = 0
	tests := []struct {
		name   string
		events [][]byte
		want   bool // a press is found
	}{
		{"press", [][]byte{event(evKey, keyPower, 1), event(synReport, 0, 0)}, true},
		{"release then press", [][]byte{event(evKey, keyPower, 0), event(evKey, keyPower, 1)}, true},
		{"another key", [][]byte{event(evKey, 30, 1), event(evKey, 30, 0)}, false},
		{"repeat only", [][]byte{event(evKey, keyPower, 2)}, false},
		{"not a key event", [][]byte{event(0x04, keyPower, 1)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := waitPress(bytes.NewReader(bytes.Join(tt.events, nil)))
			if got := err == nil; got != tt.want {
				t.Errorf("got press %v (err %v), want %v", got, err, tt.want)
			}
		})
	}
	// A torn event at the end is an error, not a press.
	if err := waitPress(bytes.NewReader(event(evKey, keyPower, 1)[:10])); err == nil {
		t.Error("a short read: got a press, want an error")
	}
}

func TestKeyBit(t *testing.T) {
	bits := make([]byte, keyMax/8+1)
	if keyBit(bits, keyPower) {
		t.Error("empty map: got the power key, want none")
	}
	bits[keyPower/8] |= 1 << (keyPower % 8)
	if !keyBit(bits, keyPower) || keyBit(bits, keyPower+1) {
		t.Error("got the wrong bit")
	}
	if keyBit(bits[:2], keyPower) {
		t.Error("a short map: got a bit beyond it")
	}
}

func TestIsEventDevice(t *testing.T) {
	for name, want := range map[string]bool{"event0": true, "event12": true, "event": false, "mice": false, "event1a": false, "by-path": false} {
		if got := isEventDevice(name); got != want {
			t.Errorf("isEventDevice(%q): got %v, want %v", name, got, want)
		}
	}
}

func TestIoctlNumbers(t *testing.T) {
	// EVIOCGBIT(EV_KEY, 96) and EVIOCGNAME(256) as the C macros give them.
	if got, want := ioctlRead(0x20+evKey, 96), uintptr(0x80604521); got != want {
		t.Errorf("EVIOCGBIT(EV_KEY, 96): got %#x, want %#x", got, want)
	}
	if got, want := ioctlRead(0x06, 256), uintptr(0x81004506); got != want {
		t.Errorf("EVIOCGNAME(256): got %#x, want %#x", got, want)
	}
}
