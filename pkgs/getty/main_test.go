package main

import (
	"reflect"
	"testing"
)

func TestConsoles(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"console=tty0 console=ttyS0,115200n8 quiet", []string{"tty0", "ttyS0"}},
		{"console=ttyS0 console=ttyS0", []string{"ttyS0"}},
		{"root=/dev/sda console=../etc", nil},
		{"", nil},
	}
	for _, tt := range tests {
		if got := Consoles(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Consoles(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSession(t *testing.T) {
	if got := Session("ttyS0", true); got[1] != "sh" {
		t.Errorf("insecure session = %v, want a shell", got)
	}
	if got := Session("ttyS0", false); got[1] != "getty" || got[4] != "ttyS0" {
		t.Errorf("secure session = %v, want busybox getty on ttyS0", got)
	}
}
