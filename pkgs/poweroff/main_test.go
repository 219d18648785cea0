package main

import (
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		argv    []string
		want    time.Duration
		wantErr bool
	}{
		{[]string{"/bin/sh", "/poweroff.sh", "10"}, 10 * time.Second, false},
		{[]string{"/bin/sh", "/poweroff.sh"}, defaultDelay, false},
		{[]string{"sh", "poweroff.sh", "0.5"}, 500 * time.Millisecond, false},
		{[]string{"/poweroff.sh", "3"}, 3 * time.Second, false},
		{[]string{"/bin/poweroff"}, defaultDelay, false},
		{nil, defaultDelay, false},
		{[]string{"/bin/sh", "/poweroff.sh", "soon"}, 0, true},
		{[]string{"/bin/sh", "/poweroff.sh", "-1"}, 0, true},
		{[]string{"/poweroff.sh", "1", "2"}, 0, true},
		// A shell is not what this is: other scripts are refused.
		{[]string{"/bin/sh", "/other.sh"}, 0, true},
	}
	for _, tc := range tests {
		got, err := parseArgs(tc.argv)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseArgs(%q): got %s, %v; want %s, error %v", tc.argv, got, err, tc.want, tc.wantErr)
		}
	}
}
