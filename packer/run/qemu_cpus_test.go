package run

import (
	"runtime"
	"testing"
)

func TestDefaultCPUs(t *testing.T) {
	two := min(runtime.NumCPU(), 2)
	for _, tc := range []struct{ mem, want int }{
		{128, 1}, {136, 1}, {255, 1}, {256, two}, {512, two}, {1024, two}, {65536, two},
	} {
		if got := DefaultCPUs(tc.mem); got != tc.want {
			t.Errorf("DefaultCPUs(%d) = %d, want %d", tc.mem, got, tc.want)
		}
	}
}
