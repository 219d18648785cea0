package progress

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{5 << 20, "5.0 MiB"},
		{3 << 30, "3.0 GiB"},
	}
	for _, tt := range tests {
		if got := Bytes(tt.n); got != tt.want {
			t.Errorf("Bytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestStepString(t *testing.T) {
	tests := []struct {
		s    Step
		want string
	}{
		{Step{Pull, "index.docker.io/library/alpine:3.20", 2048}, "pulled index.docker.io/library/alpine:3.20 (2.0 KiB)"},
		{Step{Unpack, "service sshd", 10}, "unpacked service sshd into a new segment (10 B)"},
		{Step{Cached, "kernel modules", 1 << 20}, "segment of kernel modules cached (1.0 MiB)"},
		{Step{Wrote, "out/sys-kernel", -1}, "wrote out/sys-kernel"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.s, got, tt.want)
		}
	}
}

func TestLines(t *testing.T) {
	steps := []Step{{Pull, "a", 1}, {Unpack, "b", 2}, {Cached, "c", 3}, {Wrote, "d", 4}}
	tests := []struct {
		verbose bool
		want    int // lines printed
	}{
		{false, 1},
		{true, 4},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		l := &Lines{W: &buf, Verbose: tt.verbose}
		task := l.Start(Pull, "a", 10)
		task.Add(10)
		task.Done(nil)
		for _, s := range steps {
			l.Step(s)
		}
		if got := strings.Count(buf.String(), "\n"); got != tt.want {
			t.Errorf("verbose %v: got %d lines, want %d:\n%s", tt.verbose, got, tt.want, buf.String())
		}
		if !strings.HasPrefix(buf.String(), "pulled a (1 B)\n") {
			t.Errorf("verbose %v: got %q, want it to start with the pull", tt.verbose, buf.String())
		}
	}
}

func TestBarsOnAPlainWriter(t *testing.T) {
	// A buffer gets every redraw; the last one has the final state of
	// every bar, and the messages written above them come before it.
	var buf bytes.Buffer
	b := NewBars(&buf, true)
	ok := b.Start(Pull, "example/ok:1", 100)
	ok.Add(100)
	ok.Done(nil)
	bad := b.Start(Unpack, "service broken", 0)
	bad.Add(5)
	bad.Done(errors.New("boom"))
	b.Step(Step{Wrote, "out/file", 7})
	b.Close()
	if _, err := b.Write([]byte("after close\n")); err != nil {
		t.Fatalf("Write after Close: %v", err)
	}
	for _, want := range []string{"example/ok:1", "service broken", "wrote out/file (7 B)", "after close"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, buf.String())
		}
	}
}
