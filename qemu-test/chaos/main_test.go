package main

import (
	"testing"
	"time"
)

func TestRoundsFromCmdline(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"console=ttyS0 keel.chaos=50", 50},
		{"console=ttyS0", 2},
		{"keel.chaos=zero", 2},
		{"keel.chaos=-1", 2},
	} {
		if got := roundsFromCmdline(tc.in, 2); got != tc.want {
			t.Errorf("roundsFromCmdline(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	got := summarize([]time.Duration{3 * time.Second, time.Second, 2 * time.Second})
	if want := "n=3 mean=2s median=2s max=3s"; got != want {
		t.Errorf("summarize = %q, want %q", got, want)
	}
	if got := summarize(nil); got != "n=0" {
		t.Errorf("summarize(nil) = %q, want n=0", got)
	}
}
