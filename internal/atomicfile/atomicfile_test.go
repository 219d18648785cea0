package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// entries lists dir's names, so a test sees a leftover temporary file.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name string
		old  []byte // nil: no file before
		data []byte
		perm os.FileMode
	}{
		{"new file", nil, []byte("hello\n"), 0o644},
		{"replaces", []byte("old content, longer\n"), []byte("new\n"), 0o600},
		{"empty", []byte("old\n"), nil, 0o640},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			if tt.old != nil {
				if err := os.WriteFile(p, tt.old, 0o666); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFile(p, tt.data, tt.perm); err != nil {
				t.Fatalf("WriteFile: %v", err)
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(tt.data) {
				t.Errorf("content: got %q, want %q", got, tt.data)
			}
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != tt.perm {
				t.Errorf("mode: got %v, want %v", st.Mode().Perm(), tt.perm)
			}
			if names := entries(t, dir); len(names) != 1 {
				t.Errorf("directory holds %q, want only f", names)
			}
		})
	}
}

func TestWriteFailureLeavesNothing(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		old  []byte
	}{
		{"no file before", nil},
		{"old file kept", []byte("old\n")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "f")
			if tt.old != nil {
				if err := os.WriteFile(p, tt.old, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			err := Write(p, 0o644, func(w io.Writer) error {
				if _, err := w.Write([]byte("partial")); err != nil {
					return err
				}
				return boom
			})
			if !errors.Is(err, boom) {
				t.Fatalf("got error %v, want %v", err, boom)
			}
			names := entries(t, dir)
			if tt.old == nil {
				if len(names) != 0 {
					t.Errorf("directory holds %q, want nothing", names)
				}
				return
			}
			if len(names) != 1 {
				t.Errorf("directory holds %q, want only f", names)
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(tt.old) {
				t.Errorf("content: got %q, want the old %q", got, tt.old)
			}
		})
	}
}

func TestWriteRenameFailureLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	// A non-empty directory under the destination's name: the rename fails
	// after the temporary file is complete.
	p := filepath.Join(dir, "f")
	if err := os.MkdirAll(filepath.Join(p, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("data"), 0o644); err == nil {
		t.Fatal("got no error replacing a directory, want one")
	}
	if names := entries(t, dir); len(names) != 1 || names[0] != "f" {
		t.Errorf("directory holds %q, want only f", names)
	}
}

func TestWriteMissingDirectory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "missing", "f")
	if err := WriteFile(p, []byte("data"), 0o644); err == nil {
		t.Fatal("got no error, want one for a missing directory")
	}
}
