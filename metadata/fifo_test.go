package metadata

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestSeedSpecialFilesRefused: a seed whose user-data or meta-data is a
// FIFO (opening one for reading blocks until a writer comes, forever) or a
// directory is refused at once, never hanging the agent past its context.
func TestSeedSpecialFilesRefused(t *testing.T) {
	for _, name := range []string{"user-data", "meta-data", "config", "network-config"} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if name == "network-config" {
				// Read after the others: give the seed something to read first.
				if err := os.WriteFile(filepath.Join(dir, "meta-data"), []byte("instance-id: i-1\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := unix.Mkfifo(filepath.Join(dir, name), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			done := make(chan error, 1)
			start := time.Now()
			go func() {
				_, err := (&NoCloud{Seed: dir, Limit: 1 << 20}).Fetch(ctx)
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "not a regular file") {
					t.Errorf("Fetch of a seed with a FIFO %s: got %v, want \"not a regular file\"", name, err)
				}
				if took := time.Since(start); took > time.Second {
					t.Errorf("Fetch took %s, want an immediate refusal", took)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("Fetch of a seed with a FIFO %s: still blocked after 10 s (context was 5 s)", name)
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "user-data"), 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := (&NoCloud{Seed: dir, Limit: 1 << 20}).Fetch(context.Background())
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("Fetch with user-data a directory: got %v, want \"not a regular file\"", err)
		}
	})
}

// TestReadLimitedHonoursContext: a cancelled context ends a read.
func TestReadLimitedHonoursContext(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := readLimited(ctx, root, "f", 10); !errors.Is(err, context.Canceled) {
		t.Errorf("readLimited with a cancelled context: got %v, want context.Canceled", err)
	}
	b, err := readLimited(context.Background(), root, "f", 10)
	if err != nil || string(b) != "x" {
		t.Errorf("readLimited: got %q, %v; want \"x\"", b, err)
	}
	if _, err := readLimited(context.Background(), root, "f", 0); !errors.Is(err, ErrTooLarge) {
		t.Errorf("readLimited over the limit: got %v, want ErrTooLarge", err)
	}
}
