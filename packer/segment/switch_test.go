package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// endpoint is a fake VM on one port: what it sends is framed as QEMU
// frames it, what it receives is collected frame by frame.
type endpoint struct {
	t    *testing.T
	name string
	mac  mac
	conn net.Conn
	in   chan []byte
	gone chan struct{} // closed when the switch closed the port
}

func attach(t *testing.T, s *Switch, name string, last byte) *endpoint {
	t.Helper()
	ours, theirs := net.Pipe()
	e := &endpoint{t: t, name: name, mac: mac{0x52, 0x54, 0, 0, 0, last}, conn: ours,
		in: make(chan []byte, 64), gone: make(chan struct{})}
	if err := s.Attach(theirs); err != nil {
		t.Fatalf("attach %s: %v", name, err)
	}
	go func() {
		defer close(e.gone)
		var hdr [4]byte
		for {
			if _, err := io.ReadFull(ours, hdr[:]); err != nil {
				return
			}
			f := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.ReadFull(ours, f); err != nil {
				return
			}
			e.in <- f
		}
	}()
	t.Cleanup(func() { ours.Close() })
	return e
}

var broadcast = mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// frame is an Ethernet frame from src to dst whose payload names it.
func frame(dst, src mac, payload string) []byte {
	f := append(append(append([]byte{}, dst[:]...), src[:]...), 0x88, 0xb5) // local experimental type
	return append(f, payload...)
}

func (e *endpoint) sendRaw(b []byte) {
	e.t.Helper()
	if _, err := e.conn.Write(b); err != nil {
		e.t.Fatalf("%s: send: %v", e.name, err)
	}
}

func (e *endpoint) send(dst mac, payload string) {
	e.t.Helper()
	f := frame(dst, e.mac, payload)
	e.sendRaw(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
	e.sendRaw(f)
}

// next is the payload of the next frame e receives.
func (e *endpoint) next() string {
	e.t.Helper()
	select {
	case f := <-e.in:
		return string(f[minFrame:])
	case <-e.gone:
		e.t.Fatalf("%s: the switch closed the port", e.name)
	case <-time.After(10 * time.Second):
		e.t.Fatalf("%s: no frame arrived", e.name)
	}
	return ""
}

// expect checks the payloads e receives next, in order. A frame e should
// not have had shows up as the wrong payload before a later marker: a
// switch queues one sender's frames to a port in order.
func (e *endpoint) expect(payloads ...string) {
	e.t.Helper()
	for _, want := range payloads {
		if got := e.next(); got != want {
			e.t.Errorf("%s received %q, want %q", e.name, got, want)
		}
	}
}

// clock is a settable time for aging.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestForwarding(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, s *Switch, clk *clock, a, b, c *endpoint)
	}{
		{"broadcast floods every other port", func(t *testing.T, s *Switch, _ *clock, a, b, c *endpoint) {
			a.send(broadcast, "hello all")
			b.expect("hello all")
			c.expect("hello all")
			// a must not hear its own broadcast: its next frame is b's.
			b.send(a.mac, "from b")
			a.expect("from b")
		}},
		{"multicast floods", func(t *testing.T, s *Switch, _ *clock, a, b, c *endpoint) {
			a.send(mac{0x01, 0x00, 0x5e, 0, 0, 1}, "group")
			b.expect("group")
			c.expect("group")
		}},
		{"unknown unicast floods, learned unicast goes to one port", func(t *testing.T, s *Switch, _ *clock, a, b, c *endpoint) {
			a.send(b.mac, "before b spoke")
			b.expect("before b spoke")
			c.expect("before b spoke")
			b.send(broadcast, "b here")
			a.expect("b here")
			c.expect("b here")
			a.send(b.mac, "to b only")
			a.send(broadcast, "marker")
			b.expect("to b only", "marker")
			c.expect("marker")
			if st := s.Stats(); st.Forwarded != 1 {
				t.Errorf("forwarded %d frames, want 1", st.Forwarded)
			}
		}},
		{"a learned address ages out and floods again", func(t *testing.T, s *Switch, clk *clock, a, b, c *endpoint) {
			b.send(broadcast, "b here")
			a.expect("b here")
			c.expect("b here")
			clk.add(s.Age - time.Second)
			a.send(b.mac, "still known")
			a.send(broadcast, "marker 1")
			b.expect("still known", "marker 1")
			c.expect("marker 1")
			clk.add(2 * time.Second)
			a.send(b.mac, "aged out")
			b.expect("aged out")
			c.expect("aged out")
		}},
		{"a group source address is not learned", func(t *testing.T, s *Switch, _ *clock, a, b, c *endpoint) {
			group := mac{0x01, 0, 0x5e, 0, 0, 9}
			f := frame(broadcast, group, "spoofed")
			b.sendRaw(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
			b.sendRaw(f)
			a.expect("spoofed")
			c.expect("spoofed")
			a.send(group, "to the group")
			b.expect("to the group")
			c.expect("to the group")
		}},
		{"a port that leaves is forgotten, the others go on", func(t *testing.T, s *Switch, _ *clock, a, b, c *endpoint) {
			b.send(broadcast, "b here")
			a.expect("b here")
			c.expect("b here")
			b.conn.Close()
			<-b.gone
			waitPorts(t, s, 2)
			a.send(b.mac, "b gone")
			c.expect("b gone") // flooded: b's address left with it
			c.send(a.mac, "still here")
			a.expect("still here")
		}},
		{"a runt is dropped, the port stays", func(t *testing.T, s *Switch, _ *clock, a, b, c *endpoint) {
			a.sendRaw([]byte{0, 0, 0, 3, 1, 2, 3})
			a.send(broadcast, "after the runt")
			b.expect("after the runt")
			c.expect("after the runt")
			if st := s.Stats(); st.Runts != 1 {
				t.Errorf("runts %d, want 1", st.Runts)
			}
		}},
		{"an oversized frame closes its port only", func(t *testing.T, s *Switch, _ *clock, a, b, c *endpoint) {
			a.sendRaw(binary.BigEndian.AppendUint32(nil, MaxFrame+1))
			select {
			case <-a.gone:
			case <-time.After(10 * time.Second):
				t.Fatal("the port that announced an oversized frame is still open")
			}
			if st := s.Stats(); st.Oversized != 1 {
				t.Errorf("oversized %d, want 1", st.Oversized)
			}
			b.send(broadcast, "b after")
			c.expect("b after")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			s := &Switch{Age: time.Minute, Now: clk.Now, Logf: t.Logf}
			defer s.Close()
			a, b, c := attach(t, s, "a", 1), attach(t, s, "b", 2), attach(t, s, "c", 3)
			tt.run(t, s, clk, a, b, c)
		})
	}
}

func TestMaxFrameIsAllowed(t *testing.T) {
	s := &Switch{Logf: t.Logf}
	defer s.Close()
	a, b := attach(t, s, "a", 1), attach(t, s, "b", 2)
	payload := bytes.Repeat([]byte{'x'}, MaxFrame-minFrame)
	a.send(broadcast, string(payload))
	if got := b.next(); len(got) != len(payload) {
		t.Errorf("received %d bytes of payload, want %d", len(got), len(payload))
	}
}

// TestTableLimit: once the table is full, a new address is not learned
// (frames to it are flooded) and the learned ones keep their ports.
func TestTableLimit(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := &Switch{MaxMACs: 2, Age: time.Minute, Now: clk.Now, Logf: t.Logf}
	defer s.Close()
	a, b, c := attach(t, s, "a", 1), attach(t, s, "b", 2), attach(t, s, "c", 3)
	a.send(broadcast, "a here")
	b.expect("a here")
	c.expect("a here")
	b.send(broadcast, "b here")
	a.expect("b here")
	c.expect("b here")
	c.send(broadcast, "c here") // the table is full: c is not learned
	a.expect("c here")
	b.expect("c here")
	if st := s.Stats(); st.Unlearned != 1 {
		t.Errorf("unlearned %d, want 1", st.Unlearned)
	}
	a.send(c.mac, "to c")
	b.expect("to c") // flooded
	c.expect("to c")
	a.send(b.mac, "to b")
	a.send(broadcast, "marker")
	b.expect("to b", "marker") // still learned
	c.expect("marker")

	// Once the others age out, c is learned in their place.
	clk.add(2 * time.Minute)
	c.send(broadcast, "c again")
	a.expect("c again")
	b.expect("c again")
	a.send(c.mac, "to c, learned")
	a.send(broadcast, "marker 2")
	c.expect("to c, learned", "marker 2")
	b.expect("marker 2")
}

func TestPortLimit(t *testing.T) {
	s := &Switch{MaxPorts: 2, Logf: t.Logf}
	defer s.Close()
	attach(t, s, "a", 1)
	b := attach(t, s, "b", 2)
	ours, theirs := net.Pipe()
	defer ours.Close()
	if err := s.Attach(theirs); !errors.Is(err, ErrFull) {
		t.Fatalf("third port: got %v, want ErrFull", err)
	}
	if _, err := ours.Read(make([]byte, 1)); err == nil {
		t.Error("the refused connection is still open")
	}
	b.conn.Close()
	<-b.gone
	waitPorts(t, s, 1)
	attach(t, s, "c", 3) // room again
}

// TestSlowPortDrops: a port that never reads loses frames once its queue
// is full; the others keep getting theirs.
func TestSlowPortDrops(t *testing.T) {
	s := &Switch{Logf: t.Logf}
	defer s.Close()
	a, b := attach(t, s, "a", 1), attach(t, s, "b", 2)
	_, stuck := net.Pipe() // nobody reads the other end
	if err := s.Attach(stuck); err != nil {
		t.Fatal(err)
	}
	payload := string(bytes.Repeat([]byte{'y'}, 1400))
	frames := queueLen + 10
	for i := 0; i < frames; i++ {
		a.send(broadcast, payload)
		b.expect(payload)
	}
	if st := s.Stats(); st.Dropped == 0 {
		t.Errorf("no frame dropped for the port that does not read, after %d frames", frames)
	}
}

func waitPorts(t *testing.T, s *Switch, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Ports() != n {
		if time.Now().After(deadline) {
			t.Fatalf("the switch has %d ports, want %d", s.Ports(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
