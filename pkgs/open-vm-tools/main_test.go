package main

import "testing"

func TestIsVMware(t *testing.T) {
	for _, c := range []struct {
		vendor string
		want   bool
	}{
		{"VMware, Inc.\n", true},
		{"VMware, Inc.", true},
		{"QEMU\n", false},
		{"Amazon EC2\n", false},
		{"", false},
	} {
		if got := isVMware(c.vendor); got != c.want {
			t.Errorf("isVMware(%q): got %v, want %v", c.vendor, got, c.want)
		}
	}
}
