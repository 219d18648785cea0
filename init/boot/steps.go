package boot

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/keel-os/keel/internal/bootlog"
	"golang.org/x/sys/unix"
)

// step is one boot step. Steps run in order; a failed step is logged and
// boot goes on, loudly when the step is essential.
type step struct {
	name string
	// run does the step's work with the boot's state (see state for who
	// reads and sets what).
	run       func(*state) error
	essential bool
	// when, if set, is asked just before the step would run: false skips
	// it, leaving no record.
	when func(*state) bool
}

// sinceBoot reads CLOCK_BOOTTIME, which counts from kernel start and keeps
// counting across init's re-exec.
func sinceBoot() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// stepRunner runs steps and keeps their records.
type stepRunner struct {
	clock   func() time.Duration
	stage   int
	log     *logger
	records []bootlog.Step
}

// run runs steps in order with st, recording each.
func (r *stepRunner) run(st *state, steps []step) {
	for _, s := range steps {
		if s.when != nil && !s.when(st) {
			continue
		}
		r.record(s, r.runOne(st, s))
	}
}

// background starts s now, beside the steps that follow, and returns a
// function that waits for it to end and records it. Records stay in the
// order they are taken, so only the boot's own goroutine calls wait.
// The step shares st with those that follow, so it must touch only fields
// nobody else sets while it runs.
func (r *stepRunner) background(st *state, s step) (wait func()) {
	if s.when != nil && !s.when(st) {
		return func() {}
	}
	done := make(chan bootlog.Step, 1)
	go func() { done <- r.runOne(st, s) }()
	return func() { r.record(s, <-done) }
}

// runOne runs s with st and returns its record.
func (r *stepRunner) runOne(st *state, s step) bootlog.Step {
	start := r.clock()
	err := runRecovered(func() error { return s.run(st) })
	rec := bootlog.Step{Name: s.name, Stage: r.stage, StartNS: int64(start), DurationNS: int64(r.clock() - start), Essential: s.essential}
	if err != nil {
		rec.Error = err.Error()
	}
	return rec
}

// record keeps rec and says how s went.
func (r *stepRunner) record(s step, rec bootlog.Step) {
	r.records = append(r.records, rec)
	switch {
	case rec.Error != "" && s.essential:
		r.log.Printf("ESSENTIAL STEP %s FAILED: %s (continuing; the system may not work)", s.name, rec.Error)
	case rec.Error != "":
		r.log.Printf("step %s failed: %s", s.name, rec.Error)
	default:
		r.log.Debugf("step %s: %s", s.name, time.Duration(rec.DurationNS).Round(time.Microsecond))
	}
}

// runRecovered runs fn, turning a panic into an error: PID 1 must not die.
func runRecovered(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return fn()
}

// encodeRecords and decodeRecords carry stage 1's records across exec in
// the environment.
func encodeRecords(recs []bootlog.Step) string {
	b, err := json.Marshal(recs)
	if err != nil {
		return ""
	}
	return string(b)
}

func decodeRecords(s string) []bootlog.Step {
	var recs []bootlog.Step
	if s == "" || json.Unmarshal([]byte(s), &recs) != nil {
		return nil
	}
	return recs
}

// writeBootLog writes the boot record for `svcctl boot` and the tests.
func writeBootLog(path string, recs []bootlog.Step) error {
	return bootlog.Write(path, &bootlog.Log{Version: bootlog.Version, Steps: recs})
}
