package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFindPort(t *testing.T) {
	dir := t.TempDir()
	for port, name := range map[string]string{"vport2p0": "", "vport2p1": "com.example.other", "vport5p1": portName + "\n"} {
		os.MkdirAll(filepath.Join(dir, port), 0o755)
		os.WriteFile(filepath.Join(dir, port, "name"), []byte(name), 0o644)
	}
	if got, err := findPort(dir, portName); err != nil || got != "vport5p1" {
		t.Errorf("got %q, %v; want vport5p1", got, err)
	}
	if got, err := findPort(filepath.Join(dir, "none"), portName); err != nil || got != "" {
		t.Errorf("no class directory: got %q, %v; want none and no error", got, err)
	}
	if _, err := waitPort(dir, "org.example.missing", time.Millisecond); err == nil || !strings.Contains(err.Error(), "--qemu-ga") {
		t.Errorf("a missing port: got %v, want an error saying how to add the channel", err)
	}
}

func TestNamesPath(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"-v"}, false},
		{[]string{"--verbose"}, false},
		{[]string{"-p", "/dev/vport0p1"}, true},
		{[]string{"-p/dev/vport0p1"}, true},
		{[]string{"--path=/dev/x"}, true},
	}
	for _, tt := range tests {
		if got := namesPath(tt.args); got != tt.want {
			t.Errorf("%q: got %v, want %v", tt.args, got, tt.want)
		}
	}
}
