package metadata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// readLimited reads name under root, refusing more than limit bytes. Going
// through an os.Root keeps a crafted medium's symlinks from reaching out.
func readLimited(root *os.Root, name string, limit int64) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: %w (more than %d bytes)", name, ErrTooLarge, limit)
	}
	return b, nil
}

// readOptional is readLimited where a missing file is nil, nil.
func readOptional(root *os.Root, name string, limit int64) ([]byte, error) {
	b, err := readLimited(root, name, limit)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// File reads userdata from a file (keel.metadata=file=PATH): for images
// that carry their own configuration, and for tests.
type File struct {
	Path  string
	Limit int64
}

// Name implements Provider.
func (p *File) Name() string { return "file" }

// Local implements Local.
func (p *File) Local() bool { return true }

// Probe implements Provider.
func (p *File) Probe(ctx context.Context) (Strength, error) {
	fi, err := os.Stat(p.Path)
	if err != nil {
		return Absent, err
	}
	if !fi.Mode().IsRegular() {
		return Absent, &BadAnswer{fmt.Errorf("%s is not a regular file", p.Path)}
	}
	return Strong, nil
}

// Fetch implements Provider.
func (p *File) Fetch(ctx context.Context) (*Data, error) {
	root, err := os.OpenRoot(filepath.Dir(p.Path))
	if err != nil {
		return nil, err
	}
	defer root.Close()
	b, err := readLimited(root, filepath.Base(p.Path), p.Limit)
	if err != nil {
		return nil, err
	}
	return &Data{Provider: "File", Userdata: b}, nil
}
