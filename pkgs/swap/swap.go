package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// env is what run needs from the machine; tests give a fake one.
type env interface {
	// Active lists the swap areas in use.
	Active() ([]string, error)
	IsMountPoint(path string) (bool, error)
	FSSize(path string) (int64, error)
	PageSize() int
	Swapon(path string) error
	Logf(format string, args ...any)
	Debugf(format string, args ...any)
}

// run makes and enables the swap file unless a condition says not to. A
// swap file already in use is left alone, so a second run is harmless.
func run(o options, e env) error {
	active, err := e.Active()
	if err != nil {
		return err
	}
	for _, a := range active {
		if a == o.path {
			e.Logf("%s is already in use as swap", o.path)
			return nil
		}
	}
	for _, c := range o.conditions {
		why, err := unmet(c, e)
		if err != nil {
			return err
		}
		if why == "" {
			continue
		}
		if c.required {
			return fmt.Errorf("required condition not met: %s", why)
		}
		e.Logf("no swap file: %s", why)
		return nil
	}
	if err := makeSwapFile(o.path, o.size, o.label, e.PageSize(), e.Debugf); err != nil {
		return err
	}
	if err := e.Swapon(o.path); err != nil {
		return fmt.Errorf("swapon %s: %w", o.path, err)
	}
	e.Logf("swap on %s (%d MiB)", o.path, o.size>>20)
	return nil
}

// unmet returns why c does not hold, or "" when it does.
func unmet(c condition, e env) (string, error) {
	switch c.kind {
	case "part":
		ok, err := e.IsMountPoint(c.path)
		if err != nil || ok {
			return "", err
		}
		return c.path + " is not a mount point", nil
	default: // partsize
		n, err := e.FSSize(c.path)
		if err != nil {
			return "", err
		}
		if n < c.size {
			return fmt.Sprintf("the filesystem of %s has %d bytes, fewer than %d", c.path, n, c.size), nil
		}
		return "", nil
	}
}

// makeSwapFile leaves a swap file of size bytes at p, mode 0600. A file
// that is already a swap area of that size and label is kept.
func makeSwapFile(p string, size int64, label string, pageSize int, debugf func(string, ...any)) error {
	if st, err := os.Stat(filepath.Dir(p)); err != nil || !st.IsDir() {
		return fmt.Errorf("directory %s does not exist: mount a disk there first (the mount package)", filepath.Dir(p))
	}
	h, err := newHeader(size, pageSize, label)
	if err != nil {
		return err
	}
	if old, err := readHeader(p); err == nil && old.LastPage == h.LastPage && old.PageSize == pageSize && old.Label == label {
		debugf("reusing the swap area in %s (UUID %s)", p, old.uuidString())
		return os.Chmod(p, 0o600)
	}
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("creating the swap file: %w", err)
	}
	defer f.Close()
	// An existing file keeps its mode through O_CREATE.
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	// swapon refuses files with holes: allocate every block.
	if err := unix.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		debugf("fallocate: %v; writing zeros instead", err)
		if err := writeZeros(f, size); err != nil {
			return fmt.Errorf("filling the swap file: %w", err)
		}
	}
	if _, err := f.WriteAt(h.marshal(), 0); err != nil {
		return fmt.Errorf("writing the swap header: %w", err)
	}
	debugf("made a swap area of %d pages in %s (UUID %s)", h.LastPage+1, p, h.uuidString())
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

func writeZeros(f *os.File, size int64) error {
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
	}
	return nil
}

func readHeader(p string) (header, error) {
	f, err := os.Open(p)
	if err != nil {
		return header{}, err
	}
	defer f.Close()
	page := make([]byte, os.Getpagesize())
	if _, err := io.ReadFull(f, page); err != nil {
		return header{}, err
	}
	return parseHeader(page)
}

// parseProcSwaps returns the file names of /proc/swaps, skipping its
// heading line.
func parseProcSwaps(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for first := true; sc.Scan(); first = false {
		if f := strings.Fields(sc.Text()); !first && len(f) > 0 {
			out = append(out, strings.ReplaceAll(f[0], `\040`, " "))
		}
	}
	return out, sc.Err()
}

// system is the real machine.
type system struct{ debug bool }

func newSystem(debug bool) system { return system{debug: debug} }

func (system) Active() ([]string, error) {
	f, err := os.Open("/proc/swaps")
	if err != nil {
		return nil, fmt.Errorf("reading the swap areas in use: %w", err)
	}
	defer f.Close()
	return parseProcSwaps(f)
}

// IsMountPoint compares devices: a mount point's differs from its parent's.
func (system) IsMountPoint(p string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, fmt.Errorf("%s: %w", p, err)
	}
	if err := unix.Stat(filepath.Dir(p), &parent); err != nil {
		return false, fmt.Errorf("%s: %w", filepath.Dir(p), err)
	}
	return st.Dev != parent.Dev, nil
}

func (system) FSSize(p string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return 0, fmt.Errorf("%s: %w", p, err)
	}
	return int64(st.Blocks) * st.Bsize, nil
}

func (system) PageSize() int { return os.Getpagesize() }

func (system) Swapon(p string) error {
	name, err := unix.BytePtrFromString(p)
	if err != nil {
		return err
	}
	if _, _, errno := unix.Syscall(unix.SYS_SWAPON, uintptr(unsafe.Pointer(name)), 0, 0); errno != 0 {
		return errno
	}
	return nil
}

func (system) Logf(format string, args ...any) { log.Printf(format, args...) }

func (s system) Debugf(format string, args ...any) {
	if s.debug {
		log.Printf(format, args...)
	}
}
