// Package segment joins VMs into one Ethernet segment: a learning switch
// whose ports are QEMU stream netdevs (`-netdev stream` or `-netdev
// socket,connect=`), each frame a 4-byte big-endian length and the frame.
// `keel run qemu --networking segment,NAME` starts one per NAME on a unix
// socket of this user's runtime directory, so the traffic never leaves the
// host nor touches its networks.
//
// Every port is a guest that may be hostile: frames are bounded in size,
// the table of learned addresses and the number of ports are bounded, and a
// port that cannot keep up loses frames instead of holding up the others.
package segment

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// MaxFrame is the largest frame a port may send (a 64 KiB MTU and its
	// Ethernet header). QEMU never sends more; a port that announces more
	// is not speaking QEMU's framing and is disconnected.
	MaxFrame = 65536 + 14
	// minFrame is an Ethernet header: destination, source, type.
	minFrame = 14

	// DefaultMaxMACs bounds the learned addresses of one switch.
	DefaultMaxMACs = 1024
	// DefaultMaxPorts bounds the ports of one switch.
	DefaultMaxPorts = 64
	// DefaultAge is how long a learned address is trusted without a
	// frame from it: after that, frames to it are flooded again.
	DefaultAge = 5 * time.Minute

	// queueBytes bounds the frames waiting to be written to one port, so a
	// guest that stops reading costs at most this much memory.
	queueBytes = 1 << 20
	queueLen   = 512
)

// mac is an Ethernet address.
type mac [6]byte

func (m mac) multicast() bool { return m[0]&1 == 1 }

func (m mac) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// Switch forwards Ethernet frames between its ports: to the port that last
// sent from the destination address, or to every other port for
// broadcast, multicast and addresses it has not learned.
type Switch struct {
	// MaxMACs, MaxPorts and Age are the limits; zero means the Default.
	MaxMACs  int
	MaxPorts int
	Age      time.Duration
	// Logf, when set, receives one line per port joining, leaving or
	// refused. It is called with the switch's lock held: it must not call
	// the switch.
	Logf func(format string, args ...any)
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time

	mu         sync.Mutex
	ports      map[*port]struct{}
	macs       map[mac]learned
	nextID     int
	emptySince time.Time // when the last port left (or the switch was made)
	stats      Stats
}

// learned is where an address was last seen and when.
type learned struct {
	p    *port
	seen time.Time
}

// Stats counts what the switch did, for logs and tests.
type Stats struct {
	Forwarded uint64 // frames sent to one learned port
	Flooded   uint64 // frames sent to every other port
	Dropped   uint64 // frames lost to a full queue of a slow port
	Runts     uint64 // frames shorter than an Ethernet header
	Unlearned uint64 // source addresses not learned because the table was full
	Oversized uint64 // ports disconnected for announcing a frame over MaxFrame
	Refused   uint64 // ports refused because the switch had MaxPorts
}

// port is one attached endpoint and the frames waiting for it.
type port struct {
	id     int
	conn   io.ReadWriteCloser
	out    chan []byte
	queued atomic.Int64 // bytes in out
	done   chan struct{}
	once   sync.Once
}

// ErrFull is returned by Attach when the switch has MaxPorts ports.
var ErrFull = errors.New("the segment has as many ports as it allows")

func (s *Switch) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Switch) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

func (s *Switch) limits() (maxMACs, maxPorts int, age time.Duration) {
	maxMACs, maxPorts, age = s.MaxMACs, s.MaxPorts, s.Age
	if maxMACs <= 0 {
		maxMACs = DefaultMaxMACs
	}
	if maxPorts <= 0 {
		maxPorts = DefaultMaxPorts
	}
	if age <= 0 {
		age = DefaultAge
	}
	return
}

// Attach makes conn a port and serves it until it fails or closes: frames
// read from it are forwarded, frames for it are written to it. It returns
// at once; conn is closed when the port goes (or at once, with ErrFull).
func (s *Switch) Attach(conn io.ReadWriteCloser) error {
	_, maxPorts, _ := s.limits()
	s.mu.Lock()
	if s.ports == nil {
		s.ports = map[*port]struct{}{}
		s.macs = map[mac]learned{}
	}
	if len(s.ports) >= maxPorts {
		s.stats.Refused++
		s.logf("refused a port: the segment has %d ports already", maxPorts)
		s.mu.Unlock()
		conn.Close()
		return ErrFull
	}
	s.nextID++
	p := &port{id: s.nextID, conn: conn, out: make(chan []byte, queueLen), done: make(chan struct{})}
	s.ports[p] = struct{}{}
	s.logf("port %d joined (%d ports)", p.id, len(s.ports))
	s.mu.Unlock()
	go s.write(p)
	go s.read(p)
	return nil
}

// Ports is the number of attached ports.
func (s *Switch) Ports() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ports)
}

// Idle reports whether the switch has no port, and since when (zero when
// it never had one).
func (s *Switch) Idle() (since time.Time, idle bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.emptySince, len(s.ports) == 0
}

// Stats returns the counters so far.
func (s *Switch) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close disconnects every port.
func (s *Switch) Close() {
	s.mu.Lock()
	ports := make([]*port, 0, len(s.ports))
	for p := range s.ports {
		ports = append(ports, p)
	}
	s.mu.Unlock()
	for _, p := range ports {
		s.detach(p, "the switch is closing")
	}
}

// read forwards the port's frames until its stream ends or breaks the
// framing.
func (s *Switch) read(p *port) {
	var hdr [4]byte
	for {
		if _, err := io.ReadFull(p.conn, hdr[:]); err != nil {
			s.detach(p, "closed")
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > MaxFrame {
			// The stream has no way to resynchronise but to read what
			// it announced: a port that announces more than any NIC
			// sends is not worth reading.
			s.mu.Lock()
			s.stats.Oversized++
			s.mu.Unlock()
			s.detach(p, fmt.Sprintf("announced a frame of %d bytes (at most %d)", n, MaxFrame))
			return
		}
		frame := make([]byte, n)
		if _, err := io.ReadFull(p.conn, frame); err != nil {
			s.detach(p, "closed within a frame")
			return
		}
		s.forward(p, frame)
	}
}

// write sends the port its queued frames, each behind its length.
func (s *Switch) write(p *port) {
	buf := make([]byte, 4, 4+1514)
	for {
		select {
		case <-p.done:
			return
		case f := <-p.out:
			p.queued.Add(-int64(len(f)))
			buf = binary.BigEndian.AppendUint32(buf[:0], uint32(len(f)))
			buf = append(buf, f...)
			if _, err := p.conn.Write(buf); err != nil {
				s.detach(p, "write failed")
				return
			}
		}
	}
}

// forward learns the source of a frame from p and queues the frame for
// the ports it is for.
func (s *Switch) forward(from *port, frame []byte) {
	maxMACs, _, age := s.limits()
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ports[from]; !ok {
		return
	}
	if len(frame) < minFrame {
		s.stats.Runts++
		return
	}
	var dst, src mac
	copy(dst[:], frame[0:6])
	copy(src[:], frame[6:12])
	if !src.multicast() {
		// A group address is never a sender's: learning it would let
		// one guest take every multicast frame of the segment.
		if _, known := s.macs[src]; known || len(s.macs) < maxMACs || s.expire(now, age) {
			s.macs[src] = learned{p: from, seen: now}
		} else {
			s.stats.Unlearned++
		}
	}
	if !dst.multicast() {
		if l, ok := s.macs[dst]; ok && now.Sub(l.seen) < age {
			if l.p != from {
				s.stats.Forwarded++
				s.enqueue(l.p, frame)
			}
			return
		}
	}
	s.stats.Flooded++
	for p := range s.ports {
		if p != from {
			s.enqueue(p, frame)
		}
	}
}

// expire forgets the addresses not seen within age; it reports whether
// that made room. Called with mu held, only when the table is full, so
// a guest sending from new addresses costs one sweep per frame at most.
func (s *Switch) expire(now time.Time, age time.Duration) bool {
	freed := false
	for m, l := range s.macs {
		if now.Sub(l.seen) >= age {
			delete(s.macs, m)
			freed = true
		}
	}
	return freed
}

// enqueue queues frame for p unless p's queue is full: a switch drops
// what a port cannot take. Called with mu held.
func (s *Switch) enqueue(p *port, frame []byte) {
	if p.queued.Load()+int64(len(frame)) > queueBytes {
		s.stats.Dropped++
		return
	}
	select {
	case p.out <- frame:
		p.queued.Add(int64(len(frame)))
	default:
		s.stats.Dropped++
	}
}

// detach removes p and everything learned about it, once.
func (s *Switch) detach(p *port, why string) {
	p.once.Do(func() {
		s.mu.Lock()
		delete(s.ports, p)
		for m, l := range s.macs {
			if l.p == p {
				delete(s.macs, m)
			}
		}
		n := len(s.ports)
		if n == 0 {
			s.emptySince = s.now()
		}
		// Logged under the lock: once the switch reads as idle (and may
		// be shut down), no line about it is still being written.
		s.logf("port %d left: %s (%d ports)", p.id, why, n)
		s.mu.Unlock()
		close(p.done)
		p.conn.Close()
	})
}
