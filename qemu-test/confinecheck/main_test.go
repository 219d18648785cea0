package main

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCheckStatus(t *testing.T) {
	confined := "Name:\tx\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n"
	for _, tc := range []struct {
		name, status string
		ok           bool
	}{
		{"confined", confined, true},
		{"no seccomp", "CapEff:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t0\n", false},
		{"capabilities", "CapEff:\t000001ffffffffff\nNoNewPrivs:\t1\nSeccomp:\t2\n", false},
		{"field missing", "CapEff:\t0000000000000000\nSeccomp:\t2\n", false},
	} {
		if err := checkStatus(tc.status); (err == nil) != tc.ok {
			t.Errorf("%s: checkStatus error %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestWant(t *testing.T) {
	if err := want(unix.EPERM, unix.EPERM); err != nil {
		t.Errorf("refused as expected: got %v", err)
	}
	if err := want(nil, unix.EPERM); err == nil {
		t.Error("allowed: got nil, want an error")
	}
	if err := want(errors.New("other"), unix.EPERM); err == nil {
		t.Error("other error: got nil, want an error")
	}
}
