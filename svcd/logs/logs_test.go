package logs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func texts(ls []Line) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Text
	}
	return out
}

func TestRingBounds(t *testing.T) {
	tests := []struct {
		name               string
		maxLines, maxBytes int
		add                []string
		want               []string
		dropped            uint64
	}{
		{"under bounds", 3, 100, []string{"a", "b"}, []string{"a", "b"}, 0},
		{"line bound evicts oldest", 3, 100, []string{"a", "b", "c", "d", "e"}, []string{"c", "d", "e"}, 2},
		{"byte bound evicts oldest", 10, 6, []string{"aaa", "bbb", "ccc"}, []string{"bbb", "ccc"}, 1},
		{"oversized line is cut and kept", 10, 4, []string{"a", "123456"}, []string{"1234"}, 1},
		{"empty lines count", 2, 100, []string{"", "", "x"}, []string{"", "x"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRing(tc.maxLines, tc.maxBytes)
			for _, s := range tc.add {
				r.Add(Line{Text: s})
			}
			got := texts(r.Lines())
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Errorf("lines: got %q, want %q", got, tc.want)
			}
			if d := r.Dropped(); d != tc.dropped {
				t.Errorf("dropped: got %d, want %d", d, tc.dropped)
			}
		})
	}
}

func TestRingWrapsManyTimes(t *testing.T) {
	r := NewRing(7, 1<<20)
	for i := 0; i < 100; i++ {
		r.Add(Line{Text: fmt.Sprint(i)})
	}
	got := texts(r.Lines())
	want := []string{"93", "94", "95", "96", "97", "98", "99"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestWriterSplitsLines(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		close  bool
		want   []string
	}{
		{"one line", []string{"hello\n"}, false, []string{"hello"}},
		{"two in one write", []string{"a\nb\n"}, false, []string{"a", "b"}},
		{"split across writes", []string{"he", "llo\nwor", "ld\n"}, false, []string{"hello", "world"}},
		{"partial held until close", []string{"no newline"}, false, nil},
		{"partial flushed on close", []string{"no newline"}, true, []string{"no newline"}},
		{"crlf trimmed", []string{"dos\r\n"}, false, []string{"dos"}},
		{"empty line kept", []string{"\n"}, false, []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var console bytes.Buffer
			s := NewStore(&console)
			w := s.Writer("svc", "stdout")
			for _, x := range tc.writes {
				n, err := w.Write([]byte(x))
				if err != nil || n != len(x) {
					t.Fatalf("Write(%q): got %d, %v, want %d, nil", x, n, err, len(x))
				}
			}
			if tc.close {
				w.Close()
			}
			lines, ok := s.Lines("svc")
			if !ok {
				t.Fatal("Lines: got not found, want found")
			}
			got := texts(lines)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			var wantConsole strings.Builder
			for _, l := range tc.want {
				wantConsole.WriteString("svc: " + l + "\n")
			}
			if console.String() != wantConsole.String() {
				t.Errorf("console: got %q, want %q", console.String(), wantConsole.String())
			}
		})
	}
}

func TestWriterCutsLongLines(t *testing.T) {
	s := NewStore(nil)
	w := s.Writer("svc", "stdout")
	w.Write(bytes.Repeat([]byte("x"), MaxLineLen*2+5))
	w.Close()
	lines, _ := s.Lines("svc")
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3", len(lines))
	}
	if len(lines[0].Text) != MaxLineLen || len(lines[2].Text) != 5 {
		t.Errorf("got lengths %d,%d,%d, want %d,%d,5", len(lines[0].Text), len(lines[1].Text), len(lines[2].Text), MaxLineLen, MaxLineLen)
	}
}

func TestStoreUnknownName(t *testing.T) {
	s := NewStore(nil)
	if _, ok := s.Lines("nope"); ok {
		t.Error("Lines(nope): got found, want not found")
	}
	s.Writer("quiet", "stdout")
	if l, ok := s.Lines("quiet"); !ok || len(l) != 0 {
		t.Errorf("Lines(quiet): got %v, %v, want empty, true", l, ok)
	}
	if got := s.Names(); strings.Join(got, ",") != "quiet" {
		t.Errorf("Names: got %v, want [quiet]", got)
	}
}

// Run with -race: concurrent writers must neither race nor interleave
// inside a console line.
func TestStoreConcurrent(t *testing.T) {
	var console syncBuffer
	s := NewStore(&console)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			w := s.Writer(fmt.Sprint("c", i), "stdout")
			for j := 0; j < 200; j++ {
				fmt.Fprintf(w, "line %d\n", j)
			}
		}(i)
	}
	wg.Wait()
	for i := 0; i < 8; i++ {
		l, _ := s.Lines(fmt.Sprint("c", i))
		if len(l) != 200 {
			t.Errorf("c%d: got %d lines, want 200", i, len(l))
		}
	}
	for _, line := range strings.Split(strings.TrimSuffix(console.String(), "\n"), "\n") {
		var c, n int
		if _, err := fmt.Sscanf(line, "c%d: line %d", &c, &n); err != nil {
			t.Fatalf("console line %q is mangled: %v", line, err)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestParseKmsg(t *testing.T) {
	tests := []struct {
		in      string
		want    KmsgRecord
		wantErr bool
	}{
		{"6,339,5140900,-;NET: Registered protocol family 10\n", KmsgRecord{Level: 6, Seq: 339, BootUS: 5140900, Text: "NET: Registered protocol family 10"}, false},
		{"30,1,2,c,more;init: hello\n SUBSYSTEM=x\n", KmsgRecord{Level: 6, Facility: 3, Seq: 1, BootUS: 2, Text: "init: hello"}, false},
		{"no separator", KmsgRecord{}, true},
		{"6,x,1;text", KmsgRecord{}, true},
		{"6,1;text", KmsgRecord{}, true},
	}
	for _, tc := range tests {
		got, err := ParseKmsg(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseKmsg(%q): got error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseKmsg(%q): got %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestReadKmsg(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to read /dev/kmsg")
	}
	recs, err := ReadKmsg("/dev/kmsg")
	if err != nil {
		t.Skipf("no readable /dev/kmsg here: %v", err)
	}
	if len(recs) == 0 {
		t.Fatal("got no kernel records, want the boot messages")
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Seq <= recs[i-1].Seq {
			t.Fatalf("record %d: seq %d after %d, want increasing", i, recs[i].Seq, recs[i-1].Seq)
		}
	}
}

func TestStoreQuiet(t *testing.T) {
	var console strings.Builder
	s := NewStore(&console)
	s.Quiet("hello", true)
	s.Add("hello", "stdout", "heartbeat")
	s.Printf("hello", "exited with status 1")
	s.Add("sysctl", "stdout", "applied")
	s.Quiet("sysctl", false)
	s.Add("sysctl", "stdout", "again")
	want := "hello: exited with status 1\nsysctl: applied\nsysctl: again\n"
	if got := console.String(); got != want {
		t.Errorf("console got %q, want %q", got, want)
	}
	if lines, _ := s.Lines("hello"); len(lines) != 2 {
		t.Errorf("hello's ring holds %d lines, want 2 (quiet only stops the echo)", len(lines))
	}
}

// TestRingGrowsLikeAFullRing checks the growing buffer against a plain
// list with the same bounds, through evictions by count and by bytes that
// happen before the buffer reaches its full size.
func TestRingGrowsLikeAFullRing(t *testing.T) {
	tests := []struct{ maxLines, maxBytes int }{{50, 300}, {50, 1 << 20}, {7, 40}, {1, 10}, {1000, 2000}}
	for _, tc := range tests {
		r := NewRing(tc.maxLines, tc.maxBytes)
		var model []string
		size := 0
		rnd := rand.New(rand.NewPCG(1, uint64(tc.maxLines)))
		for i := 0; i < 5000; i++ {
			text := strings.Repeat("x", rnd.IntN(40)) + strconv.Itoa(i)
			if len(text) > tc.maxBytes {
				text = text[:tc.maxBytes]
			}
			r.Add(Line{Text: text})
			for len(model) > 0 && (len(model) == tc.maxLines || size+len(text) > tc.maxBytes) {
				size -= len(model[0])
				model = model[1:]
			}
			model = append(model, text)
			size += len(text)
			got := r.Lines()
			if len(got) != len(model) {
				t.Fatalf("bounds %v, line %d: got %d lines, want %d", tc, i, len(got), len(model))
			}
			for j := range got {
				if got[j].Text != model[j] {
					t.Fatalf("bounds %v, line %d: line %d is %q, want %q", tc, i, j, got[j].Text, model[j])
				}
			}
		}
		if len(r.buf) > tc.maxLines {
			t.Errorf("bounds %v: buffer of %d lines, want at most %d", tc, len(r.buf), tc.maxLines)
		}
	}
	r := NewRing(0, 0)
	r.Add(Line{Text: "one"})
	if len(r.buf) > ringStart {
		t.Errorf("a ring of one line holds a buffer of %d, want at most %d", len(r.buf), ringStart)
	}
}
