package boot

import (
	"reflect"
	"testing"
)

func TestParseUevent(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   uevent
		wantOK bool
	}{
		{"kernel add", "add@/devices/pci0000:00/0000:00:05.0\x00ACTION=add\x00DEVPATH=/devices/pci0000:00/0000:00:05.0\x00MODALIAS=pci:v00001AF4d00001001sv*\x00SEQNUM=12\x00",
			uevent{action: "add", env: map[string]string{"ACTION": "add", "DEVPATH": "/devices/pci0000:00/0000:00:05.0", "MODALIAS": "pci:v00001AF4d00001001sv*", "SEQNUM": "12"}}, true},
		{"remove without env", "remove@/devices/x", uevent{action: "remove", env: map[string]string{}}, true},
		{"udev message", "libudev\x00\xfe\xed\xca\xfe", uevent{}, false},
		{"empty", "", uevent{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseUevent([]byte(tt.in))
			if ok != tt.wantOK || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, %v, want %+v, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
