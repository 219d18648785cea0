package logs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Defaults of Files' zero values.
const (
	DefaultFileMaxBytes = 1 << 20
	DefaultFileKeep     = 3
)

// Files writes every line it is given to Dir/<name>.log, rotating a file
// once it would grow past MaxBytes: name.log becomes name.log.1, name.log.1
// becomes name.log.2 and so on, and the oldest beyond Keep is removed. A
// name whose file cannot be written is reported once through OnError and
// then only kept in memory, so a full or read-only disk never stops a
// container.
type Files struct {
	Dir string
	// MaxBytes bounds one file; <= 0 means DefaultFileMaxBytes.
	MaxBytes int64
	// Keep is how many rotated files are kept besides the current one;
	// < 0 means none, 0 means DefaultFileKeep.
	Keep int
	// OnError hears of a name whose file failed. It may log through the
	// Store: the failed name is already off.
	OnError func(name string, err error)

	mu    sync.Mutex
	files map[string]*logFile
}

type logFile struct {
	f    *os.File
	size int64
	off  bool
}

func (fs *Files) maxBytes() int64 {
	if fs.MaxBytes <= 0 {
		return DefaultFileMaxBytes
	}
	return fs.MaxBytes
}

func (fs *Files) keep() int {
	switch {
	case fs.Keep < 0:
		return 0
	case fs.Keep == 0:
		return DefaultFileKeep
	}
	return fs.Keep
}

// Path is the current log file of name.
func (fs *Files) Path(name string) string { return filepath.Join(fs.Dir, name+".log") }

// Write appends one line as "<RFC 3339 time> <stream> <text>\n".
func (fs *Files) Write(name string, l Line) {
	rec := l.Time.UTC().Format("2006-01-02T15:04:05.000000Z") + " " + l.Stream + " " + l.Text + "\n"
	fs.mu.Lock()
	lf, err := fs.write(name, rec)
	if err != nil {
		lf.off = true
		if lf.f != nil {
			lf.f.Close()
			lf.f = nil
		}
	}
	fs.mu.Unlock()
	if err != nil && fs.OnError != nil {
		fs.OnError(name, err)
	}
}

// write appends rec to name's file, rotating first when it would not fit;
// fs.mu is held.
func (fs *Files) write(name, rec string) (*logFile, error) {
	if fs.files == nil {
		fs.files = map[string]*logFile{}
	}
	lf := fs.files[name]
	if lf == nil {
		lf = &logFile{}
		fs.files[name] = lf
	}
	if lf.off {
		return lf, nil
	}
	if lf.f == nil {
		if err := os.MkdirAll(fs.Dir, 0o755); err != nil {
			return lf, fmt.Errorf("making log directory: %w", err)
		}
		f, err := os.OpenFile(fs.Path(name), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return lf, fmt.Errorf("opening log file: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return lf, fmt.Errorf("opening log file: %w", err)
		}
		lf.f, lf.size = f, st.Size()
	}
	if lf.size > 0 && lf.size+int64(len(rec)) > fs.maxBytes() {
		if err := fs.rotate(name, lf); err != nil {
			return lf, err
		}
	}
	n, err := lf.f.WriteString(rec)
	lf.size += int64(n)
	if err != nil {
		return lf, fmt.Errorf("writing log file %s: %w", lf.f.Name(), err)
	}
	return lf, nil
}

// rotate shifts name.log.N up by one, dropping what falls beyond Keep, and
// starts an empty name.log.
func (fs *Files) rotate(name string, lf *logFile) error {
	lf.f.Close()
	lf.f = nil
	base := fs.Path(name)
	keep := fs.keep()
	if keep == 0 {
		if err := os.Remove(base); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("rotating %s: %w", base, err)
		}
	} else {
		_ = os.Remove(base + "." + strconv.Itoa(keep))
		for i := keep - 1; i >= 1; i-- {
			_ = os.Rename(base+"."+strconv.Itoa(i), base+"."+strconv.Itoa(i+1))
		}
		if err := os.Rename(base, base+".1"); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("rotating %s: %w", base, err)
		}
	}
	f, err := os.OpenFile(base, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("opening log file after rotation: %w", err)
	}
	lf.f, lf.size = f, 0
	return nil
}

// Close closes every open file.
func (fs *Files) Close() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, lf := range fs.files {
		if lf.f != nil {
			lf.f.Close()
			lf.f = nil
		}
	}
	return nil
}
