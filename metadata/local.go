package metadata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// readLimited reads name under root, refusing more than limit bytes and
// anything but a regular file. Going through an os.Root keeps a crafted
// medium's symlinks from reaching out. The open is non-blocking (opening
// a FIFO for reading otherwise waits for a writer, forever) and the read
// is bounded by ctx: a hung device leaves its read behind in a goroutine,
// not the agent.
func readLimited(ctx context.Context, root *os.Root, name string, limit int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	f, err := root.OpenFile(name, os.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &BadAnswer{fmt.Errorf("%s is not a regular file (%s): refused", name, fileKind(fi.Mode()))}
	}
	if fi.Size() > limit {
		f.Close()
		return nil, fmt.Errorf("%s: %w (more than %d bytes)", name, ErrTooLarge, limit)
	}
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, limit+1))
		done <- result{b, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		return nil, fmt.Errorf("reading %s: %w", name, ctx.Err())
	}
	if r.err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, r.err)
	}
	if int64(len(r.b)) > limit {
		return nil, fmt.Errorf("%s: %w (more than %d bytes)", name, ErrTooLarge, limit)
	}
	return r.b, nil
}

// fileKind names a file type for messages.
func fileKind(m fs.FileMode) string {
	switch t := m.Type(); {
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeDevice != 0:
		return "a device"
	default:
		return t.String()
	}
}

// readOptional is readLimited where a missing file is nil, nil.
func readOptional(ctx context.Context, root *os.Root, name string, limit int64) ([]byte, error) {
	b, err := readLimited(ctx, root, name, limit)
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
	b, err := readLimited(ctx, root, filepath.Base(p.Path), p.Limit)
	if err != nil {
		return nil, err
	}
	return &Data{Provider: "File", Userdata: b}, nil
}
