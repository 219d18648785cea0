// Package progress is how the packer's stages say what they are doing: long
// tasks (pulling an image, unpacking images into an initrd segment) report
// their bytes as they go, and every finished step is reported once. The
// stages only see the Reporter interface; the command line picks an
// implementation (silent, one line per step, or progress bars on a
// terminal).
package progress

import (
	"fmt"
	"io"
	"sync"
)

// Reporter receives a build's progress. Implementations are safe for
// concurrent use: pulls and segments run in parallel.
type Reporter interface {
	// Start announces a task of total bytes (0: unknown) and returns the
	// handle through which it reports its bytes and its end.
	Start(kind Kind, name string, total int64) Task
	// Step reports one finished step.
	Step(s Step)
}

// Task is one running task.
type Task interface {
	// Add counts n more bytes done.
	Add(n int64)
	// Done ends the task; err is nil when it succeeded.
	Done(err error)
}

// Kind says what a task or step is.
type Kind string

// The kinds of tasks and steps.
const (
	// Pull fetches an image from its registry into the cache.
	Pull Kind = "pulled"
	// Unpack flattens an image into a new initrd segment.
	Unpack Kind = "unpacked"
	// Cached is a step only: a segment came from the cache.
	Cached Kind = "cached"
	// Wrote is a step only: an output file is complete.
	Wrote Kind = "wrote"
	// Upload sends an image to a cloud's object store (`keel push`).
	Upload Kind = "uploaded"
)

// Step is one finished piece of work.
type Step struct {
	Kind Kind
	// Name is the image reference, segment or file.
	Name string
	// Size is the number of bytes fetched or written; negative when
	// unknown.
	Size int64
}

// String is the step as the -v output prints it.
func (s Step) String() string {
	var line string
	switch s.Kind {
	case Unpack:
		line = fmt.Sprintf("unpacked %s into a new segment", s.Name)
	case Cached:
		line = fmt.Sprintf("segment of %s cached", s.Name)
	default:
		line = fmt.Sprintf("%s %s", s.Kind, s.Name)
	}
	if s.Size >= 0 {
		line += " (" + Bytes(s.Size) + ")"
	}
	return line
}

// Bytes formats a byte count for people: 512 B, 3.4 MiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Or returns r, or Nop when r is nil.
func Or(r Reporter) Reporter {
	if r == nil {
		return Nop{}
	}
	return r
}

// Nop reports nothing.
type Nop struct{}

// Start returns a task that ignores its reports.
func (Nop) Start(Kind, string, int64) Task { return nopTask{} }

// Step ignores s.
func (Nop) Step(Step) {}

type nopTask struct{}

func (nopTask) Add(int64)  {}
func (nopTask) Done(error) {}

// Lines writes one line per step to W: every step when Verbose is set,
// else only pulls and uploads (what `keel build` has always printed, and
// the one long step of `keel push`).
type Lines struct {
	W       io.Writer
	Verbose bool
	mu      sync.Mutex
}

// Start returns a task that ignores its bytes: Lines reports steps only.
func (l *Lines) Start(Kind, string, int64) Task { return nopTask{} }

// Step prints s when it is wanted.
func (l *Lines) Step(s Step) {
	if !l.Verbose && s.Kind != Pull && s.Kind != Upload {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.W, s)
}
