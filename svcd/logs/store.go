package logs

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// MaxLineLen is where an unterminated line is cut, so a program writing
// without newlines still shows up and cannot grow a buffer without bound.
const MaxLineLen = 16 << 10

// Store holds one Ring per container name and echoes every line to the
// console as "<name>: <text>", one whole line per write so concurrent
// containers never interleave inside a line.
type Store struct {
	// MaxLines and MaxBytes bound each ring; zero selects the defaults.
	// Set them before the first write.
	MaxLines, MaxBytes int
	// Now stamps lines; nil means time.Now.
	Now func() time.Time
	// Files, when set, also gets every line (persistence under /var/log).
	// Set it before the first write.
	Files *Files

	mu    sync.Mutex
	rings map[string]*Ring
	quiet map[string]bool

	consoleMu sync.Mutex
	console   io.Writer
}

// NewStore returns a store echoing to console; a nil console echoes nothing.
func NewStore(console io.Writer) *Store {
	return &Store{rings: map[string]*Ring{}, console: console}
}

func (s *Store) ring(name string) *Ring {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.rings[name]
	if !ok {
		r = NewRing(s.MaxLines, s.MaxBytes)
		s.rings[name] = r
	}
	return r
}

// Quiet stops echoing name's output to the console (its lines are still
// kept); svcd's own lines about name are still echoed.
func (s *Store) Quiet(name string, quiet bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quiet == nil {
		s.quiet = map[string]bool{}
	}
	s.quiet[name] = quiet
}

func (s *Store) isQuiet(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.quiet[name]
}

// Add records one line for name and echoes it unless name is quiet.
func (s *Store) Add(name, stream, text string) {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	l := Line{Time: now(), Stream: stream, Text: text}
	s.ring(name).Add(l)
	if s.Files != nil {
		s.Files.Write(name, l)
	}
	if s.console == nil || (stream != "svcd" && s.isQuiet(name)) {
		return
	}
	s.consoleMu.Lock()
	defer s.consoleMu.Unlock()
	// A console that fails (closed serial port) must not stop the container.
	_, _ = io.WriteString(s.console, name+": "+text+"\n")
}

// Printf records a formatted line under name, as "svcd" does for its own
// messages.
func (s *Store) Printf(name, format string, args ...any) {
	s.Add(name, "svcd", fmt.Sprintf(format, args...))
}

// Lines returns the lines held for name, oldest first, and whether name has
// ever logged.
func (s *Store) Lines(name string) ([]Line, bool) {
	s.mu.Lock()
	r, ok := s.rings[name]
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	return r.Lines(), true
}

// Names lists every name that has a ring, sorted.
func (s *Store) Names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.rings))
	for n := range s.rings {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Writer returns a writer that splits what it is given into lines recorded
// under name with the given stream label ("stdout", "stderr"). Flush or
// Close record an unterminated last line. Making the writer creates the ring, so a
// container that never prints still has (empty) logs.
func (s *Store) Writer(name, stream string) io.WriteCloser {
	s.ring(name)
	return &lineWriter{s: s, name: name, stream: stream}
}

type lineWriter struct {
	s            *Store
	name, stream string

	mu      sync.Mutex
	partial []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			for len(w.partial) >= MaxLineLen {
				w.emit(w.partial[:MaxLineLen])
				w.partial = append(w.partial[:0], w.partial[MaxLineLen:]...)
			}
			break
		}
		if len(w.partial) > 0 {
			w.partial = append(w.partial, p[:i]...)
			w.emit(w.partial)
			w.partial = w.partial[:0]
		} else {
			w.emit(p[:i])
		}
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) emit(b []byte) {
	b = bytes.TrimSuffix(b, []byte("\r"))
	w.s.Add(w.name, w.stream, string(b))
}

// Flush records a last line that had no newline. The writer stays usable,
// so one writer can serve every run of a restarted container.
func (w *lineWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		w.emit(w.partial)
		w.partial = w.partial[:0]
	}
	return nil
}

// Close is Flush.
func (w *lineWriter) Close() error { return w.Flush() }
