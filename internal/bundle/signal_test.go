package bundle

import (
	"strconv"
	"strings"
	"testing"
)

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in   string
		want Signal // 0: an error
	}{
		{"SIGTERM", 15}, {"term", 15}, {"15", 15}, {" SIGINT ", 2}, {"SIGPWR", 30}, {"sys", 31},
		{"IOT", 6}, {"SIGPOLL", 29}, {"cld", 17},
		{"SIGRTMIN", 34}, {"RTMIN+0", 34}, {"SIGRTMIN+2", 36}, {"sigrtmin+30", 64},
		{"SIGRTMAX", 64}, {"SIGRTMAX-1", 63}, {"RTMAX-30", 34}, {"36", 36}, {"64", 64},
		{"SIGNOPE", 0}, {"0", 0}, {"-1", 0}, {"32", 0}, {"33", 0}, {"65", 0}, {"", 0},
		{"SIGRTMIN+31", 0}, {"SIGRTMAX-31", 0}, {"SIGRTMIN-1", 0}, {"SIGRTMAX+1", 0},
		{"SIGRTMIN+", 0}, {"SIGRTMIN++2", 0}, {"SIGRTMIN+-2", 0}, {"SIGRTMIN+2\n", 36},
		{"SIGRTMIN+ 2", 0}, {"SIGRTMIN+2x", 0}, {strings.Repeat("A", 1<<16), 0},
	}
	for _, tc := range tests {
		got, err := ParseSignal(tc.in)
		if got != tc.want || (err != nil) != (tc.want == 0) {
			t.Errorf("ParseSignal(%.40q): got %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

// TestSignalRoundTrip: every valid signal's canonical name parses back to
// it, as does its number, so what the packer writes svcd reads.
func TestSignalRoundTrip(t *testing.T) {
	n := 0
	for s := Signal(-2); s <= 70; s++ {
		if !s.Valid() {
			if _, err := s.MarshalText(); err == nil {
				t.Errorf("MarshalText(%d): got nil error for an invalid signal", s)
			}
			continue
		}
		n++
		b, err := s.MarshalText()
		if err != nil {
			t.Fatalf("MarshalText(%d): %v", s, err)
		}
		var back Signal
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("UnmarshalText(%q): got %d, %v; want %d", b, back, err, s)
		}
		if s >= SigRTMin {
			max := "SIGRTMAX-" + itoa(int(SigRTMax-s))
			if got, err := ParseSignal(max); err != nil || got != s {
				t.Errorf("ParseSignal(%q): got %d, %v; want %d", max, got, err, s)
			}
		}
	}
	if n != 31+31 {
		t.Errorf("valid signals: got %d, want 62", n)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestParseRestart(t *testing.T) {
	tests := []struct {
		in      string
		want    Restart
		wantErr bool
	}{
		{"", Restart{}, false},
		{"no", Restart{Mode: RestartNo}, false},
		{"always", Restart{Mode: RestartAlways}, false},
		{"unless-stopped", Restart{Mode: RestartUnlessStopped}, false},
		{"on-failure", Restart{Mode: RestartOnFailure}, false},
		{"on-failure:3", Restart{Mode: RestartOnFailure, MaxRestarts: 3}, false},
		{"on-failure:0", Restart{Mode: RestartOnFailure}, false},
		{"on-failure:x", Restart{}, true},
		{"on-failure:-1", Restart{}, true},
		{"on-failure:+1", Restart{}, true},
		{"on-failure:", Restart{}, true},
		{"on-failure:99999999999999999999", Restart{}, true},
		{"sometimes", Restart{}, true},
		{"Always", Restart{}, true},
	}
	for _, tc := range tests {
		got, err := ParseRestart(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseRestart(%q): got %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestRestartRoundTrip: a parsed policy written back parses to itself.
func TestRestartRoundTrip(t *testing.T) {
	for _, in := range []string{"", "no", "always", "unless-stopped", "on-failure", "on-failure:1", "on-failure:999999999"} {
		r, err := ParseRestart(in)
		if err != nil {
			t.Fatalf("ParseRestart(%q): %v", in, err)
		}
		if got := r.String(); got != in {
			t.Errorf("ParseRestart(%q).String(): got %q, want %q", in, got, in)
		}
		back, err := ParseRestart(r.String())
		if err != nil || back != r {
			t.Errorf("ParseRestart(%q): got %+v, %v; want %+v", r.String(), back, err, r)
		}
	}
}

func TestParseRejectsBadSignalAndRestart(t *testing.T) {
	for _, in := range []string{
		`{"version":1,"stopSignal":"SIGNOPE"}`,
		`{"version":1,"stopSignal":"SIGRTMIN+31"}`,
		`{"version":1,"restart":"sometimes"}`,
	} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Errorf("Parse(%s): got nil error", in)
		}
	}
	if _, err := Parse([]byte(`{"version":1,"stopSignal":"SIGRTMIN+2","restart":"on-failure:2"}`)); err != nil {
		t.Errorf("Parse of a real-time stop signal: %v", err)
	}
}
