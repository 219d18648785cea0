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
	r.run(&state{}, []step{
		{name: "ok", run: func(*state) error { order = append(order, "ok"); return nil }},
		{name: "fails", run: func(*state) error { order = append(order, "fails"); return errors.New("boom") }},
		{name: "panics", run: func(*state) error { order = append(order, "panics"); panic("oops") }, essential: true},
		{name: "after", run: func(*state) error { order = append(order, "after"); return nil }},
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
	r.run(&state{}, []step{{name: "mounts", run: func(*state) error { return nil }}})
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
	wait := r.background(&state{}, step{name: "modules", run: func(*state) error {
		close(started)
		<-release
		return errors.New("late")
	}})
	<-started
	r.run(&state{}, []step{{name: "clock", run: func(*state) error { return nil }}})
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

func TestStepRunnerWhen(t *testing.T) {
	tests := []struct {
		name        string
		when        func(*state) bool
		wantRecords []string
	}{
		{name: "no condition", when: nil, wantRecords: []string{"first", "maybe", "last"}},
		{name: "true", when: func(*state) bool { return true }, wantRecords: []string{"first", "maybe", "last"}},
		{name: "false", when: func(*state) bool { return false }, wantRecords: []string{"first", "last"}},
		{name: "reads state set by an earlier step", when: func(st *state) bool { return st.imaged }, wantRecords: []string{"first", "maybe", "last"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &stepRunner{clock: (&fakeClock{}).read, log: &logger{}}
			var ran []string
			note := func(name string) func(*state) error {
				return func(*state) error { ran = append(ran, name); return nil }
			}
			r.run(&state{}, []step{
				{name: "first", run: func(st *state) error { ran = append(ran, "first"); st.imaged = true; return nil }},
				{name: "maybe", run: note("maybe"), when: tt.when},
				{name: "last", run: note("last")},
			})
			var names []string
			for _, rec := range r.records {
				names = append(names, rec.Name)
			}
			if !reflect.DeepEqual(names, tt.wantRecords) || !reflect.DeepEqual(ran, tt.wantRecords) {
				t.Errorf("ran %v, recorded %v, want both %v (a skipped step leaves no record)", ran, names, tt.wantRecords)
			}
		})
	}
}

func TestStepRunnerBackgroundSkipped(t *testing.T) {
	r := &stepRunner{clock: (&lockedClock{}).read, log: &logger{}}
	ran := false
	wait := r.background(&state{}, step{name: "prefetch", run: func(*state) error { ran = true; return nil }, when: func(*state) bool { return false }})
	wait()
	if ran || len(r.records) != 0 {
		t.Errorf("skipped background step: ran %v, records %+v, want neither", ran, r.records)
	}
}

func TestStepsHandOnState(t *testing.T) {
	r := &stepRunner{clock: (&lockedClock{}).read, log: &logger{}}
	st := &state{devices: make(chan struct{})}
	wait := r.background(st, step{name: "modules", run: func(st *state) error {
		defer close(st.devices)
		return nil
	}})
	var sawImaged bool
	r.run(st, []step{
		{name: "root-image", run: func(st *state) error { st.imaged = true; return nil }},
		{name: "root-move", run: func(st *state) error { sawImaged = st.imaged; st.moved = true; return nil }},
	})
	<-st.devices // the background step closes it
	wait()
	if !sawImaged || !st.moved {
		t.Errorf("root-move saw imaged=%v, left moved=%v, want both true: steps hand state on through st", sawImaged, st.moved)
	}
}

func TestBootTotal(t *testing.T) {
	tests := []struct {
		name string
		recs []bootlog.Step
		want time.Duration
	}{
		{name: "no steps", recs: nil, want: 0},
		{name: "one step", recs: []bootlog.Step{{StartNS: 10, DurationNS: 5}}, want: 15},
		// Where the last record ends, even when an earlier one ends
		// later: the background steps are recorded last.
		{name: "last record", recs: []bootlog.Step{{StartNS: 10, DurationNS: 5}, {StartNS: 3, DurationNS: 40}}, want: 43},
	}
	for _, tt := range tests {
		if got := bootTotal(tt.recs); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}
