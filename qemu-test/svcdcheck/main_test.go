package main

import (
	"testing"

	"github.com/keel-os/keel/svcd/api"
)

func TestReady(t *testing.T) {
	up := []api.Container{
		{Name: "flaky", State: "running", Restarts: 1},
		{Name: "db", State: "running", Health: "healthy"},
		{Name: "app", State: "running"},
	}
	tests := []struct {
		name string
		edit func([]api.Container)
		want bool
	}{
		{"all up", func([]api.Container) {}, true},
		{"flaky never restarted", func(cs []api.Container) { cs[0].Restarts = 0 }, false},
		{"flaky in backoff", func(cs []api.Container) { cs[0].State = "backoff" }, false},
		{"db still starting", func(cs []api.Container) { cs[1].Health = "starting" }, false},
		{"app pending", func(cs []api.Container) { cs[2].State = "pending" }, false},
	}
	for _, tc := range tests {
		cs := append([]api.Container(nil), up...)
		tc.edit(cs)
		if got, why := Ready(cs); got != tc.want {
			t.Errorf("%s: got %t (%s), want %t", tc.name, got, why, tc.want)
		}
	}
}

func TestOrder(t *testing.T) {
	tests := []struct {
		name string
		tl   []TimelineEntry
		want bool
	}{
		{"app after db healthy", []TimelineEntry{{1, "service db started"}, {2, "service db healthy"}, {3, "service app started"}}, true},
		{"app before db healthy", []TimelineEntry{{1, "service app started"}, {2, "service db healthy"}}, false},
		{"db never healthy", []TimelineEntry{{1, "service app started"}}, false},
	}
	for _, tc := range tests {
		if _, _, got := Order(tc.tl); got != tc.want {
			t.Errorf("%s: got %t, want %t", tc.name, got, tc.want)
		}
	}
}
