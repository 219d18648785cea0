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
	name      string
	run       func() error
	essential bool
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

func (r *stepRunner) run(steps []step) {
	for _, s := range steps {
		r.record(s, r.runOne(s))
	}
}

// background starts s now, beside the steps that follow, and returns a
// function that waits for it to end and records it. Records stay in the
// order they are taken, so only the boot's own goroutine calls wait.
func (r *stepRunner) background(s step) (wait func()) {
	done := make(chan bootlog.Step, 1)
	go func() { done <- r.runOne(s) }()
	return func() { r.record(s, <-done) }
}

// runOne runs s and returns its record.
func (r *stepRunner) runOne(s step) bootlog.Step {
	start := r.clock()
	err := runRecovered(s.run)
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
