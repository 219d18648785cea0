package boot

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHugePagesStep(t *testing.T) {
	tests := []struct {
		name    string
		cmdline string
		mode    string // the file's content; "" for no file
		want    string
	}{
		{"always becomes madvise", "console=ttyS0 quiet", "[always] madvise never\n", "madvise"},
		{"command line names a mode", "transparent_hugepage=always", "[always] madvise never\n", "[always] madvise never\n"},
		{"command line turns them off", "transparent_hugepage=never", "always madvise [never]\n", "always madvise [never]\n"},
		{"kernel default madvise", "", "always [madvise] never\n", "always [madvise] never\n"},
		{"kernel default never", "", "always madvise [never]\n", "always madvise [never]\n"},
		{"no transparent huge pages", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sysfs := t.TempDir()
			path := filepath.Join(sysfs, hugePagesFile)
			if tt.mode != "" {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tt.mode), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := hugePagesStep(parseCmdline(tt.cmdline), sysfs); err != nil {
				t.Fatalf("hugePagesStep: %v", err)
			}
			got, err := os.ReadFile(path)
			if tt.mode == "" {
				if err == nil {
					t.Fatalf("got a mode file %q written where there was none", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got mode file %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHugePagesStepUnwritable(t *testing.T) {
	sysfs := t.TempDir()
	path := filepath.Join(sysfs, hugePagesFile)
	// A directory where the file should be: reading it fails, and the
	// step says so instead of going on silently.
	if err := os.MkdirAll(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := hugePagesStep(cmdline{}, sysfs); err == nil {
		t.Fatal("got no error reading a mode file that is a directory")
	}
}
