package main

import "testing"

func TestParseModprobe(t *testing.T) {
	tests := []struct {
		args    []string
		want    modprobeArgs
		wantErr bool
	}{
		{[]string{"-q", "--", "fs-overlay"}, modprobeArgs{quiet: true, name: "fs-overlay"}, false},
		{[]string{"virtio_net", "napi_tx=1", "x=2"}, modprobeArgs{name: "virtio_net", params: "napi_tx=1 x=2"}, false},
		{[]string{"-v", "loop"}, modprobeArgs{name: "loop"}, false},
		{[]string{"--", "-odd-name"}, modprobeArgs{name: "-odd-name"}, false},
		{[]string{"-r", "loop"}, modprobeArgs{}, true},
		{[]string{"-q"}, modprobeArgs{}, true},
	}
	for _, tt := range tests {
		got, err := parseModprobe(tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseModprobe(%q): error %v, want error %v", tt.args, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && got != tt.want {
			t.Errorf("parseModprobe(%q) = %+v, want %+v", tt.args, got, tt.want)
		}
	}
}

func TestIsModprobe(t *testing.T) {
	for _, tt := range []struct {
		arg0 string
		want bool
	}{{"/sbin/modprobe", true}, {"modprobe", true}, {"/init", false}, {"poweroff", false}} {
		if got := isModprobe([]string{tt.arg0}); got != tt.want {
			t.Errorf("isModprobe(%q) = %v, want %v", tt.arg0, got, tt.want)
		}
	}
}
