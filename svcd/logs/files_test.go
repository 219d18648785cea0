package logs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFilesRotation(t *testing.T) {
	tests := []struct {
		name      string
		keep      int
		lines     int
		wantFiles []string
	}{
		// Each record is 27+7+1+4+1 = 40 bytes; 100-byte files hold two.
		{"fits in one file", 2, 2, []string{"web.log"}},
		{"one rotation", 2, 3, []string{"web.log", "web.log.1"}},
		{"keeps only N old files", 2, 9, []string{"web.log", "web.log.1", "web.log.2"}},
		{"keep none", -1, 9, []string{"web.log"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := &Files{Dir: filepath.Join(dir, "log"), MaxBytes: 100, Keep: tc.keep}
			defer fs.Close()
			at := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
			for i := 0; i < tc.lines; i++ {
				fs.Write("web", Line{Time: at, Stream: "stdout", Text: "l" + string(rune('0'+i)) + "xx"})
			}
			ents, err := os.ReadDir(fs.Dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			total := 0
			for _, e := range ents {
				got = append(got, e.Name())
				b, _ := os.ReadFile(filepath.Join(fs.Dir, e.Name()))
				if len(b) > 100 {
					t.Errorf("%s: got %d bytes, want at most 100", e.Name(), len(b))
				}
				total += strings.Count(string(b), "\n")
			}
			if strings.Join(got, ",") != strings.Join(tc.wantFiles, ",") {
				t.Errorf("files: got %v, want %v", got, tc.wantFiles)
			}
			// The newest line is always in the current file.
			b, _ := os.ReadFile(fs.Path("web"))
			last := "l" + string(rune('0'+tc.lines-1)) + "xx"
			if !strings.HasSuffix(string(b), "2024-05-06T07:08:09.000000Z stdout "+last+"\n") {
				t.Errorf("web.log: got %q, want it to end with line %s", b, last)
			}
			if max := 2 * len(tc.wantFiles); total > max {
				t.Errorf("lines on disk: got %d, want at most %d", total, max)
			}
		})
	}
}

func TestFilesErrorTurnsNameOff(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var errs []error
	fs := &Files{Dir: filepath.Join(blocker, "log"), OnError: func(name string, err error) { errs = append(errs, err) }}
	s := NewStore(nil)
	s.Files = fs
	s.Add("web", "stdout", "one")
	s.Add("web", "stdout", "two")
	if len(errs) != 1 || errors.Unwrap(errs[0]) == nil {
		t.Errorf("errors: got %v, want exactly one wrapped error", errs)
	}
	if l, _ := s.Lines("web"); len(l) != 2 {
		t.Errorf("ring: got %d lines, want 2 (memory goes on without the file)", len(l))
	}
}
