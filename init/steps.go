package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"golang.org/x/sys/unix"
)

// step is one boot step. Steps run in order; a failed step is logged and
// boot goes on, loudly when the step is essential.
type step struct {
	name      string
	run       func() error
	essential bool
}

// record is what the boot log keeps about one step run.
type record struct {
	Name string `json:"name"`
	// Stage is 1 before init re-executes itself from the new root, 2 after.
	Stage int `json:"stage"`
	// StartNS is when the step began, in nanoseconds since the kernel
	// booted (CLOCK_BOOTTIME).
	StartNS    int64  `json:"start_ns"`
	DurationNS int64  `json:"duration_ns"`
	Error      string `json:"error,omitempty"`
	Essential  bool   `json:"essential,omitempty"`
}

// bootLog is the JSON document written to layout.BootLog.
type bootLog struct {
	Version int      `json:"version"`
	Steps   []record `json:"steps"`
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
	records []record
}

func (r *stepRunner) run(steps []step) {
	for _, s := range steps {
		start := r.clock()
		err := runRecovered(s.run)
		rec := record{Name: s.name, Stage: r.stage, StartNS: int64(start), DurationNS: int64(r.clock() - start), Essential: s.essential}
		if err != nil {
			rec.Error = err.Error()
		}
		r.records = append(r.records, rec)
		switch {
		case err != nil && s.essential:
			r.log.Printf("ESSENTIAL STEP %s FAILED: %v (continuing; the system may not work)", s.name, err)
		case err != nil:
			r.log.Printf("step %s failed: %v", s.name, err)
		default:
			r.log.Debugf("step %s: %s", s.name, time.Duration(rec.DurationNS).Round(time.Microsecond))
		}
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
func encodeRecords(recs []record) string {
	b, err := json.Marshal(recs)
	if err != nil {
		return ""
	}
	return string(b)
}

func decodeRecords(s string) []record {
	var recs []record
	if s == "" || json.Unmarshal([]byte(s), &recs) != nil {
		return nil
	}
	return recs
}

func writeBootLog(path string, recs []record) error {
	b, err := json.MarshalIndent(bootLog{Version: 1, Steps: recs}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write boot log: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write boot log: %w", err)
	}
	return nil
}
