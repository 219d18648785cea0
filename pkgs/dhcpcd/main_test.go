package main

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    Options
		wantErr string
	}{
		{"LinuxKit's onboot command line", []string{"--nobackground", "-f", "/dhcpcd.conf", "-1"},
			Options{Oneshot: true, Timeout: 30 * time.Second}, ""},
		{"LinuxKit's service command line", []string{"--nobackground", "-f", "/dhcpcd.conf"},
			Options{Timeout: 30 * time.Second}, ""},
		{"named links and a timeout", []string{"-1", "-t", "5", "eth1", "eth2"},
			Options{Oneshot: true, Timeout: 5 * time.Second, Links: []string{"eth1", "eth2"}}, ""},
		{"zero timeout", []string{"-1", "-t", "0"}, Options{}, "must be a positive number"},
		{"unknown flag", []string{"--persistent"}, Options{}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseArgs(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Oneshot != tt.want.Oneshot || got.Timeout != tt.want.Timeout || !slices.Equal(got.Links, tt.want.Links) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
