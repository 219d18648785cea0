package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log"
	"net"
	"strings"
	"testing"
	"time"
)

// ntpEpoch is where NTP timestamps count from.
var ntpEpoch = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

func putTimestamp(b []byte, t time.Time) {
	d := t.Sub(ntpEpoch)
	sec := uint64(d / time.Second)
	frac := uint64(d%time.Second) << 32 / uint64(time.Second)
	binary.BigEndian.PutUint32(b, uint32(sec))
	binary.BigEndian.PutUint32(b[4:], uint32(frac))
}

// fakeServer answers SNTP queries on a local UDP port with a clock that
// runs ahead of ours by skew; stratum 0 makes it a kiss-of-death server.
func fakeServer(t *testing.T, skew time.Duration, stratum byte) string {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if n < 48 {
				continue
			}
			recv := time.Now().Add(skew)
			resp := make([]byte, 48)
			version := (buf[0] >> 3) & 7
			resp[0] = version<<3 | 4 // no leap warning, server mode
			resp[1] = stratum
			resp[2] = 6
			resp[3] = 0xec                                  // precision 2^-20
			binary.BigEndian.PutUint32(resp[4:], 1<<16/100) // root delay 10 ms
			binary.BigEndian.PutUint32(resp[8:], 1<<16/100) // root dispersion 10 ms
			copy(resp[12:16], "GPS\x00")                    // reference id
			putTimestamp(resp[16:], recv.Add(-time.Second)) // reference time
			copy(resp[24:32], buf[40:48])                   // origin: the client's transmit time
			putTimestamp(resp[32:], recv)                   // receive time
			putTimestamp(resp[40:], time.Now().Add(skew))   // transmit time
			conn.WriteTo(resp, from)
		}
	}()
	return conn.LocalAddr().String()
}

// deadServer is an address where nothing answers.
func deadServer(t *testing.T) string {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := conn.LocalAddr().String()
	conn.Close()
	return addr
}

func TestSyncStepsByServerOffset(t *testing.T) {
	tests := []struct {
		name      string
		skew      time.Duration
		threshold time.Duration
		wantStep  bool
	}{
		{"server an hour ahead", time.Hour, 10 * time.Millisecond, true},
		{"server 90 s behind", -90 * time.Second, 10 * time.Millisecond, true},
		{"within the threshold", 0, 500 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stepped []time.Duration
			var logs bytes.Buffer
			s := &syncer{
				opts: Options{Servers: []string{fakeServer(t, tt.skew, 2)}, Oneshot: true, Timeout: 2 * time.Second, Threshold: tt.threshold},
				step: func(d time.Duration) error { stepped = append(stepped, d); return nil },
				log:  log.New(&logs, "", 0),
			}
			if err := s.run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if !tt.wantStep {
				if len(stepped) != 0 {
					t.Errorf("got steps %v, want none", stepped)
				}
				return
			}
			// Loopback round trips take microseconds; allow 50 ms.
			if len(stepped) != 1 || (stepped[0]-tt.skew).Abs() > 50*time.Millisecond {
				t.Errorf("got steps %v, want one of about %s", stepped, tt.skew)
			}
			if !strings.Contains(logs.String(), "clock stepped by") {
				t.Errorf("log %q does not say the clock was stepped", logs.String())
			}
		})
	}
}

func TestSyncFallsBackAndFails(t *testing.T) {
	good := fakeServer(t, time.Minute, 2)
	kod := fakeServer(t, time.Minute, 0)
	tests := []struct {
		name    string
		servers []string
		wantErr string
	}{
		{"first silent, second answers", []string{deadServer(t), good}, ""},
		{"kiss of death skipped", []string{kod, good}, ""},
		{"none usable", []string{kod, deadServer(t)}, "no NTP server gave a usable answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			steps := 0
			s := &syncer{
				opts: Options{Servers: tt.servers, Oneshot: true, Timeout: 500 * time.Millisecond},
				step: func(time.Duration) error { steps++; return nil },
				log:  log.New(io.Discard, "", 0),
			}
			err := s.run(context.Background())
			if tt.wantErr == "" {
				if err != nil || steps != 1 {
					t.Errorf("got %v after %d steps, want one step", err, steps)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || steps != 0 {
				t.Errorf("got %v after %d steps, want an error containing %q and no step", err, steps, tt.wantErr)
			}
		})
	}
}

func TestSyncReportsStepFailure(t *testing.T) {
	s := &syncer{
		opts: Options{Servers: []string{fakeServer(t, time.Hour, 2)}, Oneshot: true, Timeout: time.Second},
		step: func(time.Duration) error { return errors.New("operation not permitted") },
		log:  log.New(io.Discard, "", 0),
	}
	if err := s.run(context.Background()); err == nil {
		t.Error("got no error when the clock could not be set, want one")
	}
}

func TestTimexOffset(t *testing.T) {
	tests := []struct {
		d         time.Duration
		sec, nsec int64
	}{
		{0, 0, 0},
		{1500 * time.Millisecond, 1, 500_000_000},
		{-1500 * time.Millisecond, -2, 500_000_000},
		{-time.Second, -1, 0},
		{-time.Nanosecond, -1, 999_999_999},
		{time.Hour, 3600, 0},
	}
	for _, tt := range tests {
		sec, nsec := timexOffset(tt.d)
		if sec != tt.sec || nsec != tt.nsec {
			t.Errorf("timexOffset(%s) = %d s %d ns, want %d s %d ns", tt.d, sec, nsec, tt.sec, tt.nsec)
		}
	}
}

func TestParseArgs(t *testing.T) {
	env := func(v string) func(string) string {
		return func(string) string { return v }
	}
	tests := []struct {
		args        []string
		env         string
		wantServers []string
		wantErr     string
	}{
		{[]string{"-1", "time.example"}, "", []string{"time.example"}, ""},
		{nil, "a.example, b.example:1123", []string{"a.example", "b.example:1123"}, ""},
		{[]string{"c.example"}, "a.example", []string{"c.example"}, ""},
		{nil, "", nil, "no NTP server"},
		{[]string{"-interval", "5s", "a.example"}, "", nil, "too short"},
		{[]string{"-timeout", "0s", "a.example"}, "", nil, "must be positive"},
	}
	for _, tt := range tests {
		o, err := parseArgs(tt.args, env(tt.env), io.Discard)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseArgs(%q, env %q) error = %v, want %q", tt.args, tt.env, err, tt.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(o.Servers, "|") != strings.Join(tt.wantServers, "|") {
			t.Errorf("parseArgs(%q, env %q) = %q, %v; want %q", tt.args, tt.env, o.Servers, err, tt.wantServers)
		}
	}
}
