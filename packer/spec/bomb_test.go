package spec

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

// aliasBomb is the label from issue 17: a mount whose uidMappings repeat an
// alias of a mapping with 100 unknown keys 300 times, that mount itself
// repeated 300 times: a few kilobytes that name 9 million unknown keys.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("mounts:\n- &mount\n  destination: /x\n  uidMappings:\n  - &m {")
	for i := range 100 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "k%d: 1", i)
	}
	b.WriteString("}\n")
	for range 299 {
		b.WriteString("  - *m\n")
	}
	for range 299 {
		b.WriteString("- *mount\n")
	}
	return b.String()
}

// TestLabelAliasBomb: such a label is refused quickly, with a bounded
// list of errors and bounded memory, however many nodes its aliases reach.
func TestLabelAliasBomb(t *testing.T) {
	label := aliasBomb()
	if len(label) > 8<<10 {
		t.Fatalf("the bomb is %d bytes; it should be a few kilobytes", len(label))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := ParseLabel("evil/image:1", []byte(label))
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("ParseLabel of an alias bomb: got nil error")
	}
	if took > 500*time.Millisecond {
		t.Errorf("ParseLabel took %s, want well under a second", took)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 256<<20 {
		t.Errorf("ParseLabel allocated %d MiB, want < 256", alloc>>20)
	}
	l, ok := AsErrorList(err)
	if !ok {
		t.Fatalf("got %T, want an ErrorList", err)
	}
	// maxErrors, the error that ended the decode, and the summary.
	if len(l) > maxErrors+2 {
		t.Errorf("errors: got %d, want at most %d", len(l), maxErrors+2)
	}
	if !strings.Contains(err.Error(), "document is too large") {
		t.Errorf("errors: got none saying the document is too large in\n%.2000s", err)
	}
	last := l[len(l)-1].Msg
	if !strings.Contains(last, "more") {
		t.Errorf("last error: got %q, want a summary of those left out (\"... and N more\")", last)
	}
	t.Logf("refused in %s, %d errors, last: %s", took, len(l), last)
}
