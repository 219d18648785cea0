package main

import (
	"errors"
	"runtime"
	"testing"
)

// fakePool records what was added and answers Wanted from a script.
type fakePool struct {
	added   []uint64
	wants   []bool // successive answers of Wanted; then false
	addErr  error
	waitArg []int
}

func (p *fakePool) Add(w uint64) error {
	if p.addErr != nil {
		return p.addErr
	}
	p.added = append(p.added, w)
	return nil
}

func (p *fakePool) Wanted(timeoutMs int) (bool, error) {
	p.waitArg = append(p.waitArg, timeoutMs)
	if len(p.wants) == 0 {
		return false, nil
	}
	w := p.wants[0]
	p.wants = p.wants[1:]
	return w, nil
}

// counter is a source giving 1, 2, 3...; it fails every call whose number
// is in fail.
func counter(fail map[int]bool) source {
	n, calls := uint64(0), 0
	return func() (uint64, bool) {
		calls++
		if fail[calls] {
			return 0, false
		}
		n++
		return n, true
	}
}

func TestFeedOneshot(t *testing.T) {
	tests := []struct {
		name      string
		wants     []bool
		fail      map[int]bool
		wantBytes int
		wantWords []uint64
	}{
		{"pool full at once", nil, nil, 8, []uint64{1}},
		{"kernel asks twice more", []bool{true, true}, nil, 24, []uint64{1, 2, 3}},
		{"a failed read is retried", []bool{true}, map[int]bool{2: true, 3: true}, 16, []uint64{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &fakePool{wants: tt.wants}
			n, err := feed(p, counter(tt.fail), true)
			if err != nil {
				t.Fatalf("feed: %v", err)
			}
			if n != tt.wantBytes {
				t.Errorf("got %d bytes, want %d", n, tt.wantBytes)
			}
			if len(p.added) != len(tt.wantWords) {
				t.Fatalf("got words %v, want %v", p.added, tt.wantWords)
			}
			for i := range p.added {
				if p.added[i] != tt.wantWords[i] {
					t.Errorf("word %d: got %d, want %d", i, p.added[i], tt.wantWords[i])
				}
			}
			for _, a := range p.waitArg {
				if a != 0 {
					t.Errorf("oneshot waited with timeout %d, want 0 (never block)", a)
				}
			}
		})
	}
}

func TestFeedOneshotBounded(t *testing.T) {
	// A kernel that always asks: -1 still stops.
	wants := make([]bool, 2*oneshotMax)
	for i := range wants {
		wants[i] = true
	}
	p := &fakePool{wants: wants}
	n, err := feed(p, counter(nil), true)
	if err != nil || n != oneshotMax {
		t.Errorf("got %d bytes, %v; want %d, nil", n, err, oneshotMax)
	}
}

func TestFeedErrors(t *testing.T) {
	broken := func() (uint64, bool) { return 0, false }
	if _, err := feed(&fakePool{}, broken, true); err == nil {
		t.Error("a source that always fails: got no error, want one")
	}
	denied := errors.New("operation not permitted")
	if _, err := feed(&fakePool{addErr: denied}, counter(nil), false); !errors.Is(err, denied) {
		t.Errorf("a refused ioctl: got %v, want %v", err, denied)
	}
}

func TestFeedServiceWaitsForever(t *testing.T) {
	// As a service rngd blocks (timeout -1) between requests and returns
	// only on an error: here the source breaks after three words.
	calls := 0
	src := func() (uint64, bool) {
		calls++
		return uint64(calls), calls <= 3
	}
	p := &fakePool{wants: []bool{true, true, true, true}}
	n, err := feed(p, src, false)
	if err == nil || n != 24 {
		t.Errorf("got %d bytes, %v; want 24 and an error", n, err)
	}
	for _, a := range p.waitArg {
		if a != -1 {
			t.Errorf("service waited with timeout %d, want -1", a)
		}
	}
}

func TestHardwareSource(t *testing.T) {
	src, name := hardwareSource(true, true)
	if src == nil {
		t.Skip("this CPU has no hardware random instruction")
	}
	seen := map[uint64]bool{}
	for range 8 {
		w, err := read(src)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		seen[w] = true
	}
	if len(seen) < 7 {
		t.Errorf("%s gave %d distinct words of 8, want (almost surely) 8", name, len(seen))
	}
	// The disable flags are LinuxKit's x86 ones.
	if src, _ := hardwareSource(false, false); runtime.GOARCH == "amd64" && src != nil {
		t.Error("with both instructions disabled: got a source, want none")
	}
}
