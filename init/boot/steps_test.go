package boot

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keel-os/keel/internal/bootlog"
)

// fakeClock advances by one millisecond per reading.
type fakeClock struct{ now time.Duration }

func (c *fakeClock) read() time.Duration {
	c.now += time.Millisecond
	return c.now
}

func TestStepRunner(t *testing.T) {
	var out bytes.Buffer
	lg := &logger{console: &out}
	clock := &fakeClock{}
	r := &stepRunner{clock: clock.read, stage: 2, log: lg}
	var order []string
	r.run([]step{
		{name: "ok", run: func() error { order = append(order, "ok"); return nil }},
		{name: "fails", run: func() error { order = append(order, "fails"); return errors.New("boom") }},
		{name: "panics", run: func() error { order = append(order, "panics"); panic("oops") }, essential: true},
		{name: "after", run: func() error { order = append(order, "after"); return nil }},
	})
	if want := []string{"ok", "fails", "panics", "after"}; !reflect.DeepEqual(order, want) {
		t.Errorf("ran %v, want %v (failures must not stop boot)", order, want)
	}
	if len(r.records) != 4 {
		t.Fatalf("got %d records, want 4", len(r.records))
	}
	want := bootlog.Step{Name: "ok", Stage: 2, StartNS: int64(time.Millisecond), DurationNS: int64(time.Millisecond)}
	if r.records[0] != want {
		t.Errorf("record 0: got %+v, want %+v", r.records[0], want)
	}
	if r.records[1].Error != "boom" {
		t.Errorf("record 1 error: got %q, want boom", r.records[1].Error)
	}
	if !strings.Contains(r.records[2].Error, "panic: oops") || !r.records[2].Essential {
		t.Errorf("record 2: got %+v, want an essential panic record", r.records[2])
	}
	got := out.String()
	if !strings.Contains(got, "init: step fails failed: boom") || !strings.Contains(got, "init: ESSENTIAL STEP panics FAILED") {
		t.Errorf("log:\n%s\nwant the failure and the essential failure", got)
	}
	if strings.Contains(got, "step ok:") {
		t.Errorf("log:\n%s\nwant no per-step timing without keel.debug", got)
	}
}

func TestStepRunnerDebugLogsDurations(t *testing.T) {
	var out bytes.Buffer
	lg := &logger{console: &out, debug: true}
	clock := &fakeClock{}
	r := &stepRunner{clock: clock.read, log: lg}
	r.run([]step{{name: "mounts", run: func() error { return nil }}})
	if got, want := out.String(), "init: step mounts: 1ms\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	recs := []bootlog.Step{{Name: "a", Stage: 1, StartNS: 5, DurationNS: 7, Error: "x", Essential: true}, {Name: "b"}}
	if got := decodeRecords(encodeRecords(recs)); !reflect.DeepEqual(got, recs) {
		t.Errorf("got %+v, want %+v", got, recs)
	}
	if got := decodeRecords("not json"); got != nil {
		t.Errorf("decodeRecords(garbage): got %+v, want nil", got)
	}
}

func TestWriteBootLog(t *testing.T) {
	p := filepath.Join(t.TempDir(), "run", "keel", "boot.json")
	recs := []bootlog.Step{{Name: "mounts", Stage: 2, StartNS: 10, DurationNS: 20}}
	if err := writeBootLog(p, recs); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var got bootlog.Log
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if want := (bootlog.Log{Version: 1, Steps: recs}); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// lockedClock is fakeClock for steps running on several goroutines.
type lockedClock struct {
	mu sync.Mutex
	c  fakeClock
}

func (c *lockedClock) read() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c.read()
}

func TestStepRunnerBackground(t *testing.T) {
	var out bytes.Buffer
	clock := &lockedClock{}
	r := &stepRunner{clock: clock.read, stage: 2, log: &logger{console: &out}}
	release := make(chan struct{})
	started := make(chan struct{})
	wait := r.background(step{name: "modules", run: func() error {
		close(started)
		<-release
		return errors.New("late")
	}})
	<-started
	r.run([]step{{name: "clock", run: func() error { return nil }}})
	if len(r.records) != 1 || r.records[0].Name != "clock" {
		t.Fatalf("records before wait: got %+v, want only clock: a background step must not hold up the next", r.records)
	}
	close(release)
	wait()
	if len(r.records) != 2 {
		t.Fatalf("got %d records, want 2", len(r.records))
	}
	bg, fg := r.records[1], r.records[0]
	if bg.Name != "modules" || bg.Error != "late" || bg.Stage != 2 {
		t.Errorf("background record: got %+v, want modules, error late, stage 2", bg)
	}
	if bg.StartNS >= fg.StartNS || bg.StartNS+bg.DurationNS <= fg.StartNS+fg.DurationNS {
		t.Errorf("background record %+v should span the foreground one %+v", bg, fg)
	}
	if !strings.Contains(out.String(), "init: step modules failed: late") {
		t.Errorf("log:\n%s\nwant the background step's failure", out.String())
	}
}
