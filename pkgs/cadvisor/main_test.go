package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/cadvisor/lib/container"
	info "github.com/google/cadvisor/lib/model"
)

// fakeSource answers for the containers it holds, by cgroup name.
type fakeSource struct {
	containers map[string]*info.ContainerInfo
	queries    []*info.ContainerInfoRequest
}

func (f *fakeSource) GetContainerInfo(name string, q *info.ContainerInfoRequest) (*info.ContainerInfo, error) {
	f.queries = append(f.queries, q)
	c, ok := f.containers[name]
	if !ok {
		return nil, errors.New("unknown container " + name)
	}
	return c, nil
}

func (f *fakeSource) SubcontainersInfo(name string, q *info.ContainerInfoRequest) ([]*info.ContainerInfo, error) {
	var out []*info.ContainerInfo
	for n, c := range f.containers {
		if strings.HasPrefix(n, name) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeSource) GetMachineInfo() (*info.MachineInfo, error) {
	return &info.MachineInfo{NumCores: 3}, nil
}

func TestAPI(t *testing.T) {
	src := &fakeSource{containers: map[string]*info.ContainerInfo{
		"/":                     {ContainerReference: info.ContainerReference{Name: "/"}},
		"/services.linuxkit/db": {ContainerReference: info.ContainerReference{Name: "/services.linuxkit/db"}, Stats: []*info.ContainerStats{{Timestamp: time.Unix(1, 0)}}},
	}}
	srv := httptest.NewServer(apiMux(src))
	defer srv.Close()
	tests := []struct {
		method, path, body string
		status             int
		want               string // in the body
	}{
		{"GET", "/healthz", "", 200, "ok"},
		{"GET", "/api/v1.3/machine", "", 200, `"num_cores":3`},
		{"GET", "/api/v1.3/containers/", "", 200, `"name":"/"`},
		{"GET", "/api/v1.3/containers/services.linuxkit/db", "", 200, `"name":"/services.linuxkit/db"`},
		{"POST", "/api/v1.3/containers/services.linuxkit/db", `{"num_stats":1}`, 200, `"stats":[{"timestamp"`},
		{"GET", "/api/v1.3/containers/nope", "", 404, "unknown container /nope"},
		{"POST", "/api/v1.3/containers/", `{"num_stats":`, 400, "reading the request body"},
		{"POST", "/api/v1.3/containers/", strings.Repeat(" ", maxRequest+1), 400, "over"},
		{"GET", "/api/v1.3/subcontainers/services.linuxkit", "", 200, `"name":"/services.linuxkit/db"`},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tt.status || !strings.Contains(string(b), tt.want) {
			t.Errorf("%s %s: got %d %q, want %d containing %q", tt.method, tt.path, resp.StatusCode, b, tt.status, tt.want)
		}
	}
	if n := len(src.queries); n == 0 || src.queries[0].NumStats != 60 {
		t.Errorf("default query %+v, want NumStats 60", src.queries)
	}
	var got []json.RawMessage
	resp, err := http.Get(srv.URL + "/api/v1.3/subcontainers/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || len(got) != 2 {
		t.Errorf("subcontainers of /: got %d (%v), want 2", len(got), err)
	}
}

func TestMetricSet(t *testing.T) {
	tests := []struct {
		in      string
		want    []container.MetricKind
		wantErr bool
	}{
		{"disk,tcp,udp", []container.MetricKind{"disk", "tcp", "udp"}, false},
		{" cpu , ", []container.MetricKind{"cpu"}, false},
		{"disk,bogus", nil, true},
	}
	for _, tt := range tests {
		var m metricSet
		err := m.Set(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("Set(%q): err %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if len(m.set) != len(tt.want) {
			t.Errorf("Set(%q) = %v, want %v", tt.in, m.set, tt.want)
		}
		for _, k := range tt.want {
			if !m.set.Has(k) {
				t.Errorf("Set(%q) = %v, lacks %s", tt.in, m.set, k)
			}
		}
	}
}

func TestWaitFor(t *testing.T) {
	tests := []struct {
		name    string
		answers int // the dial that first succeeds (1-based); 0: none
		retries int
		want    bool
		dials   int
	}{
		{"docker at once", 1, -1, true, 1},
		{"containerd in the second round", 4, -1, true, 4},
		{"nobody, three rounds", 0, 3, false, 6},
	}
	for _, tt := range tests {
		dials := 0
		dial := func(string) error {
			dials++
			if dials == tt.answers {
				return nil
			}
			return errors.New("refused")
		}
		got := waitFor([]string{"a", "b"}, tt.retries, 0, dial)
		if got != tt.want || dials != tt.dials {
			t.Errorf("%s: got %v after %d dials, want %v after %d", tt.name, got, dials, tt.want, tt.dials)
		}
	}
}

func TestContainerName(t *testing.T) {
	for _, tt := range []struct{ path, want string }{
		{"/api/v1.3/containers", "/"},
		{"/api/v1.3/containers/", "/"},
		{"/api/v1.3/containers/a/b/", "/a/b"},
	} {
		if got := containerName(tt.path, "/api/v1.3/containers"); got != tt.want {
			t.Errorf("containerName(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}
