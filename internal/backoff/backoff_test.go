package backoff

import (
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	const s = time.Second
	type step struct {
		ran, want time.Duration
	}
	tests := []struct {
		name  string
		p     Policy
		steps []step
	}{
		{"doubles to the cap", Policy{Initial: s, Max: 4 * s, Reset: time.Minute},
			[]step{{0, s}, {0, 2 * s}, {0, 4 * s}, {0, 4 * s}}},
		{"cap not a power of two", Policy{Initial: s, Max: 3 * s},
			[]step{{0, s}, {0, 2 * s}, {0, 3 * s}, {0, 3 * s}}},
		{"long run resets", Policy{Initial: s, Max: 30 * s, Reset: 10 * s},
			[]step{{0, s}, {0, 2 * s}, {0, 4 * s}, {10 * s, s}, {9 * s, 2 * s}}},
		{"no reset", Policy{Initial: s, Max: 30 * s},
			[]step{{0, s}, {time.Hour, 2 * s}}},
		{"no cap", Policy{Initial: s},
			[]step{{0, s}, {0, 2 * s}, {0, 4 * s}, {0, 8 * s}, {0, 16 * s}, {0, 32 * s}}},
		{"zero waits nothing", Policy{},
			[]step{{0, 0}, {0, 0}}},
		{"services", Services,
			[]step{{0, s}, {0, 2 * s}, {0, 4 * s}, {0, 8 * s}, {0, 16 * s}, {0, 30 * s}, {29 * s, 30 * s}, {30 * s, s}}},
		{"svcd", Svcd,
			[]step{{0, s}, {2 * s, 2 * s}, {0, 4 * s}, {0, 8 * s}, {0, 16 * s}, {0, 30 * s}, {0, 30 * s},
				{59 * s, 30 * s}, // not long enough to count as a good run
				{60 * s, s},      // a good run resets
				{0, 2 * s}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.p)
			for i, st := range tt.steps {
				if got := b.Next(st.ran); got != st.want {
					t.Errorf("step %d (ran %s): got %s, want %s", i, st.ran, got, st.want)
				}
			}
		})
	}
}
