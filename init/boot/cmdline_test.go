package boot

import (
	"reflect"
	"testing"
	"time"
)

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		in   string
		want cmdline
	}{
		{"console=ttyS0 keel.debug panic=-1\n", cmdline{"console": "ttyS0", "keel.debug": "", "panic": "-1"}},
		{`a="x y" b=1 a2`, cmdline{"a": "x y", "b": "1", "a2": ""}},
		{"k=1 k=2", cmdline{"k": "2"}},
		{"root=/dev/sda -- keel.debug", cmdline{"root": "/dev/sda"}},
		{"", cmdline{}},
		{"  spaced\t\tout  ", cmdline{"spaced": "", "out": ""}},
	}
	for _, tt := range tests {
		if got := parseCmdline(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseCmdline(%q): got %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestCmdlineSeconds(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"", defaultShutdownTimeout, false},
		{"keel.shutdown_timeout=5", 5 * time.Second, false},
		{"keel.shutdown_timeout=0", 0, false},
		{"keel.shutdown_timeout=soon", defaultShutdownTimeout, true},
		{"keel.shutdown_timeout=-3", defaultShutdownTimeout, true},
	}
	for _, tt := range tests {
		got, err := parseCmdline(tt.in).seconds(paramShutdownTimeout, defaultShutdownTimeout)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("%q: got %s, %v, want %s, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}
