package bundle

import (
	"reflect"
	"testing"
	"time"

	kbundle "github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/packer/spec"
)

func TestHealthcheck(t *testing.T) {
	tests := []struct {
		name    string
		in      *spec.Healthcheck
		want    *kbundle.Healthcheck
		wantErr bool
	}{
		{"absent", nil, nil, false},
		{"none", &spec.Healthcheck{Test: []string{"NONE"}}, nil, false},
		{"cmd", &spec.Healthcheck{Test: []string{"CMD", "wget", "-q", "localhost"}, Interval: "5s", Retries: 2},
			&kbundle.Healthcheck{Exec: []string{"wget", "-q", "localhost"}, Interval: kbundle.Duration(5 * time.Second), Retries: 2}, false},
		{"bare list", &spec.Healthcheck{Test: []string{"true"}}, &kbundle.Healthcheck{Exec: []string{"true"}}, false},
		{"shell", &spec.Healthcheck{Test: []string{"CMD-SHELL", "test -f /x"}, Timeout: "1s", StartPeriod: "2s"},
			&kbundle.Healthcheck{Exec: []string{"/bin/sh", "-c", "test -f /x"}, Timeout: kbundle.Duration(time.Second), StartPeriod: kbundle.Duration(2 * time.Second)}, false},
		{"tcp", &spec.Healthcheck{Test: []string{"TCP", "127.0.0.1:80"}}, &kbundle.Healthcheck{TCP: "127.0.0.1:80"}, false},
		{"file", &spec.Healthcheck{Test: []string{"FILE", "/run/ready"}}, &kbundle.Healthcheck{File: "/run/ready"}, false},
		{"tcp without address", &spec.Healthcheck{Test: []string{"TCP"}}, nil, true},
		{"cmd without command", &spec.Healthcheck{Test: []string{"CMD"}}, nil, true},
		{"bad interval", &spec.Healthcheck{Test: []string{"true"}, Interval: "soon"}, nil, true},
	}
	for _, tc := range tests {
		got, err := healthcheck(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: got error %v, want error %v", tc.name, err, tc.wantErr)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
