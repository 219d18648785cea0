package boot

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMemAvailable(t *testing.T) {
	tests := []struct {
		name, text string
		want       int64
		wantErr    bool
	}{
		{"normal", "MemTotal:  995368 kB\nMemFree: 801196 kB\nMemAvailable:     760800 kB\n", 760800 << 10, false},
		{"missing", "MemTotal: 1 kB\n", 0, true},
		{"garbage", "MemAvailable: lots kB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "meminfo")
			if err := os.WriteFile(p, []byte(tt.text), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := memAvailable(p)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("got %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestWillNeed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "prog")
	if err := os.WriteFile(p, make([]byte, 1<<20), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := willNeed(p); err != nil {
		t.Errorf("willNeed(%s): %v", p, err)
	}
	if err := willNeed(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("willNeed of a missing file: got nil, want an error")
	}
}
