package guest

import (
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		in    string
		want  Stat
		fails bool
	}{
		{"42 (svcd) S 1 42 42 0", Stat{Comm: "svcd", State: "S", PPid: 1}, false},
		{"7 (a (b) c) Z 3 7", Stat{Comm: "a (b) c", State: "Z", PPid: 3}, false},
		{"9 (x) R notanumber", Stat{}, true},
		{"garbage", Stat{}, true},
	} {
		got, err := ParseStat(tc.in)
		if (err != nil) != tc.fails || got != tc.want {
			t.Errorf("ParseStat(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.fails)
		}
	}
}

func TestStartTime(t *testing.T) {
	self, err := StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	init, err := StartTime(1)
	if err != nil {
		t.Skipf("cannot read PID 1's stat here: %v", err)
	}
	if self < init {
		t.Errorf("this test started at tick %d, before PID 1 (%d)", self, init)
	}
	if _, err := StartTime(-1); err == nil {
		t.Error("StartTime(-1): got no error, want one")
	}
}
