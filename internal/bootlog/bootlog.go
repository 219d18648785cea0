// Package bootlog is the record of init's boot steps that init writes to
// layout.BootLog and `svcctl boot` reads. Times are from CLOCK_BOOTTIME, so
// they count from the kernel's start.
package bootlog

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/keel-os/keel/internal/atomicfile"
)

// Version is the format version written and understood.
const Version = 1

// Step is one timed boot step.
type Step struct {
	Name string `json:"name"`
	// Stage is 1 before init re-executes itself from the new root, 2 after.
	Stage      int    `json:"stage"`
	StartNS    int64  `json:"start_ns"`
	DurationNS int64  `json:"duration_ns"`
	Error      string `json:"error,omitempty"`
	Essential  bool   `json:"essential,omitempty"`
}

// Log is the whole file.
type Log struct {
	Version int    `json:"version"`
	Steps   []Step `json:"steps"`
}

// Read loads and checks a boot log file.
func Read(path string) (*Log, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading boot log: %w", err)
	}
	var l Log
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("parsing boot log %s: %w", path, err)
	}
	if l.Version != Version {
		return nil, fmt.Errorf("boot log %s has version %d, this build understands %d", path, l.Version, Version)
	}
	return &l, nil
}

// Write stores l at path as indented JSON, creating the directory. It
// writes a temporary file and renames it, so a reader never sees half a log.
func Write(path string, l *Log) error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding boot log: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("writing boot log: %w", err)
	}
	if err := atomicfile.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing boot log: %w", err)
	}
	return nil
}
