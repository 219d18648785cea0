package main

import (
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  stat
		fails bool
	}{
		{"42 (svcd) S 1 42 42 0", stat{comm: "svcd", state: "S", ppid: 1}, false},
		{"7 (a (b) c) Z 3 7", stat{comm: "a (b) c", state: "Z", ppid: 3}, false},
		{"garbage", stat{}, true},
	} {
		got, err := parseStat(tc.in)
		if (err != nil) != tc.fails || got != tc.want {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.fails)
		}
	}
}

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
