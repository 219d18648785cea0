package metadata

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const goalState = `<?xml version="1.0" encoding="utf-8"?>
<GoalState xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:noNamespaceSchemaLocation="goalstate10.xsd">
  <Version>2012-11-30</Version>
  <Incarnation>3</Incarnation>
  <Machine><ExpectedState>Started</ExpectedState></Machine>
  <Container>
    <ContainerId>c6d5e2a1-8f0e-4b6c-9d7a-1f2e3d4c5b6a</ContainerId>
    <RoleInstanceList>
      <RoleInstance><InstanceId>896ad3a2-5a4b-4c1f-a0f1-3c2b1a0f9e8d._vm1</InstanceId><State>Started</State></RoleInstance>
    </RoleInstanceList>
  </Container>
</GoalState>`

// wireServer fakes Azure's fabric endpoint: the goal state it serves and
// the health reports it received.
type wireServer struct {
	goal       string
	healthCode int
	mu         sync.Mutex
	reports    []azureHealth
	bad        []string
}

func (w *wireServer) handler() http.Handler {
	m := http.NewServeMux()
	check := func(r *http.Request) bool {
		ok := r.Header.Get("x-ms-version") == wireServerVersion && r.Header.Get("x-ms-agent-name") != ""
		if !ok {
			w.mu.Lock()
			w.bad = append(w.bad, r.Method+" without x-ms-version/x-ms-agent-name")
			w.mu.Unlock()
		}
		return ok
	}
	m.HandleFunc("GET /machine/", func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("comp") != "goalstate" || !check(r) {
			http.Error(rw, "bad request", http.StatusBadRequest)
			return
		}
		io.WriteString(rw, w.goal)
	})
	m.HandleFunc("POST /machine/", func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("comp") != "health" || !check(r) || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/xml") {
			http.Error(rw, "bad request", http.StatusBadRequest)
			return
		}
		var h azureHealth
		body, _ := io.ReadAll(r.Body)
		if err := xml.Unmarshal(body, &h); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.reports = append(w.reports, h)
		w.mu.Unlock()
		if w.healthCode != 0 {
			rw.WriteHeader(w.healthCode)
		}
	})
	return m
}

func TestAzureReportReady(t *testing.T) {
	for _, c := range []struct {
		name       string
		goal       string
		healthCode int
		want       *azureHealth
		wantErr    string
	}{
		{name: "ready", goal: goalState, want: &azureHealth{
			Incarnation: "3", ContainerID: "c6d5e2a1-8f0e-4b6c-9d7a-1f2e3d4c5b6a",
			InstanceID: "896ad3a2-5a4b-4c1f-a0f1-3c2b1a0f9e8d._vm1", State: "Ready"}},
		{name: "not XML", goal: "<html>oops", wantErr: "not the expected XML"},
		{name: "no instance", goal: `<GoalState><Incarnation>1</Incarnation><Container><ContainerId>c</ContainerId></Container></GoalState>`, wantErr: "no role instance"},
		{name: "hostile id", goal: strings.Replace(goalState, "<ContainerId>c6d5", "<ContainerId>&lt;x&gt; c6d5", 1), wantErr: "ContainerId"},
		{name: "oversized goal state", goal: goalState + strings.Repeat(" ", 70<<10), wantErr: "too large"},
		{name: "report refused", goal: goalState, healthCode: http.StatusForbidden, wantErr: "status 403"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ws := &wireServer{goal: c.goal, healthCode: c.healthCode}
			srv := httptest.NewServer(ws.handler())
			defer srv.Close()
			p := &Azure{WireServer: srv.URL, F: NewFetcher(64 << 10)}
			err := p.ReportReady(context.Background())
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("got error %v, want one saying %q", err, c.wantErr)
				}
				if !Definite(err) {
					t.Errorf("error %v is not Definite: it would be retried", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if len(ws.bad) > 0 {
				t.Errorf("requests the fabric refuses: %v", ws.bad)
			}
			if c.want == nil {
				if c.healthCode == 0 && len(ws.reports) != 0 {
					t.Errorf("got %d health reports, want none", len(ws.reports))
				}
				return
			}
			if len(ws.reports) != 1 {
				t.Fatalf("got %d health reports, want 1", len(ws.reports))
			}
			got := ws.reports[0]
			got.XMLName = xml.Name{}
			if got != *c.want {
				t.Errorf("got report %+v, want %+v", got, *c.want)
			}
		})
	}
}

// flakyReporter fails the first fails calls with err.
type flakyReporter struct {
	fails int
	err   error
	calls int
}

func (f *flakyReporter) ReportReady(ctx context.Context) error {
	f.calls++
	if f.calls <= f.fails {
		return f.err
	}
	return nil
}

func TestReportReadyRetries(t *testing.T) {
	unreachable := errors.New("dial tcp 168.63.129.16:80: connect: network is unreachable")
	refused := &StatusError{URL: "http://168.63.129.16/machine/?comp=health", Code: 403}
	tm := Timing{Tries: 3, Backoff: time.Millisecond, Fetch: time.Second}
	for _, c := range []struct {
		name      string
		r         *flakyReporter
		wantCalls int
		wantErr   bool
	}{
		{"first try", &flakyReporter{}, 1, false},
		{"network comes up", &flakyReporter{fails: 2, err: unreachable}, 3, false},
		{"never reachable", &flakyReporter{fails: 5, err: unreachable}, 3, true},
		{"refused is final", &flakyReporter{fails: 5, err: refused}, 1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := reportReady(context.Background(), c.r, tm)
			if (err != nil) != c.wantErr {
				t.Errorf("got error %v, want error: %v", err, c.wantErr)
			}
			if c.r.calls != c.wantCalls {
				t.Errorf("got %d calls, want %d", c.r.calls, c.wantCalls)
			}
		})
	}
}

// readyProvider is a provider whose cloud waits for a ready report.
type readyProvider struct {
	flakyReporter
	fetched bool
}

func (p *readyProvider) Name() string                                { return "ready" }
func (p *readyProvider) Probe(ctx context.Context) (Strength, error) { return Strong, nil }
func (p *readyProvider) Fetch(ctx context.Context) (*Data, error) {
	p.fetched = true
	return &Data{Provider: "Ready", Hostname: "vm1"}, nil
}

// TestRunReportsReady checks that the agent reports ready after writing
// /run/config, and that a failed report leaves the system configured.
func TestRunReportsReady(t *testing.T) {
	for _, c := range []struct {
		name    string
		fails   int
		wantLog string
	}{
		{"reported", 0, "ready: reported ready"},
		{"fabric down", 10, "ready: reporting ready: "},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := &readyProvider{flakyReporter: flakyReporter{fails: c.fails, err: errors.New("network is unreachable")}}
			env := Env{ConfigDir: t.TempDir(), VarDir: t.TempDir()}
			var logs []string
			logf := func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }
			tm := Timing{Attempt: time.Second, Tries: 2, Backoff: time.Millisecond, Fetch: time.Second}
			if err := Run(context.Background(), []Provider{p}, env, DefaultLimits, tm, logf); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(env.ConfigDir, "provider")); err != nil {
				t.Errorf("/run/config not written before the report: %v", err)
			}
			joined := strings.Join(logs, "\n")
			if !strings.Contains(joined, c.wantLog) {
				t.Errorf("got log\n%s\nwant a line with %q", joined, c.wantLog)
			}
			if c.fails == 0 && p.calls != 1 {
				t.Errorf("got %d reports, want 1", p.calls)
			}
		})
	}
}
