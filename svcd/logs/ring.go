// Package logs keeps the recent output of every container in a bounded
// in-memory ring and echoes each line to the console, so a booted system
// shows what its containers print and `svcctl logs` can replay it later
// without any disk.
package logs

import (
	"sync"
	"time"
)

// Default bounds of one ring: enough to see why a service failed, small
// enough that a chatty service cannot eat the memory of a small VM.
const (
	DefaultMaxLines = 1000
	DefaultMaxBytes = 256 << 10
)

// Line is one line of output, without its newline.
type Line struct {
	// Seq numbers a ring's lines from 1 in the order added.
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Text   string    `json:"text"`
}

// Ring holds the last lines written to it, bounded both in count and in
// bytes of text. It is safe for concurrent use.
type Ring struct {
	mu       sync.Mutex
	maxLines int
	maxBytes int
	buf      []Line // circular; head is the oldest entry; grows up to maxLines
	head     int
	n        int
	bytes    int
	dropped  uint64
	seq      uint64
}

// NewRing returns a ring keeping at most maxLines lines and maxBytes bytes of
// text; values <= 0 select the defaults.
func NewRing(maxLines, maxBytes int) *Ring {
	if maxLines <= 0 {
		maxLines = DefaultMaxLines
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Ring{maxLines: maxLines, maxBytes: maxBytes}
}

// ringStart is the first size of a ring's buffer. Buffers grow as lines
// come: a full one costs 64 bytes a line (64 KB at the default bound) in
// svcd for every container, and most containers say little.
const ringStart = 16

// grow enlarges the buffer (doubling, up to maxLines), oldest line first.
func (r *Ring) grow() {
	buf := make([]Line, min(max(2*len(r.buf), ringStart), r.maxLines))
	for i := 0; i < r.n; i++ {
		buf[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = buf, 0
}

// Add appends a line, evicting the oldest ones to stay within bounds. A line
// longer than the byte bound is cut to it so it never evicts itself.
func (r *Ring) Add(l Line) {
	if len(l.Text) > r.maxBytes {
		l.Text = l.Text[:r.maxBytes]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.n > 0 && (r.n == r.maxLines || r.bytes+len(l.Text) > r.maxBytes) {
		r.bytes -= len(r.buf[r.head].Text)
		r.buf[r.head] = Line{}
		r.head = (r.head + 1) % len(r.buf)
		r.n--
		r.dropped++
	}
	if r.n == len(r.buf) {
		r.grow() // below maxLines: the loop above made room otherwise
	}
	r.seq++
	l.Seq = r.seq
	r.buf[(r.head+r.n)%len(r.buf)] = l
	r.n++
	r.bytes += len(l.Text)
}

// Lines returns a copy of the lines held, oldest first.
func (r *Ring) Lines() []Line {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Line, r.n)
	for i := range out {
		out[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	return out
}

// Dropped says how many lines were evicted since the ring was made.
func (r *Ring) Dropped() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropped
}
