// Command sysfs writes kernel settings into sysfs from sysfs.d-style
// files, with the command line of LinuxKit's sysfs onboot container: every
// file of -configDir in lexical order, each line `path = value` with path
// relative to -sysfsDir (/sys), `#` starting a comment line.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Setting is one `path = value` line with where it came from.
type Setting struct {
	Path, Value string
	File        string
	Line        int
}

// maxConf bounds what one configuration file may hold.
const maxConf = 1 << 20

// Parse reads one configuration file.
func Parse(name string, r io.Reader) ([]Setting, error) {
	var out []Setting
	sc := bufio.NewScanner(io.LimitReader(r, maxConf))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.Contains(v, "=") {
			return nil, fmt.Errorf("%s:%d: %q is not `path = value` (one =, the path relative to /sys)", name, n, line)
		}
		s := Setting{Path: strings.TrimSpace(k), Value: strings.TrimSpace(v), File: name, Line: n}
		// A path stays below /sys: no "..", however it is spelled.
		clean := path.Clean("/" + s.Path)
		if s.Path == "" || clean == "/" || strings.Contains(s.Path, "..") {
			return nil, fmt.Errorf("%s:%d: bad path %q: name a file below /sys, e.g. kernel/mm/transparent_hugepage/enabled", name, n, s.Path)
		}
		s.Path = strings.TrimPrefix(clean, "/")
		out = append(out, s)
	}
	return out, sc.Err()
}

// Apply writes each setting under sysDir, logging each, and returns how
// many failed.
func Apply(sysDir string, settings []Setting, log io.Writer) int {
	failed := 0
	for _, s := range settings {
		p := filepath.Join(sysDir, s.Path)
		if err := write(p, s.Value); err != nil {
			fmt.Fprintf(log, "sysfs: %s:%d: %v\n", s.File, s.Line, err)
			failed++
			continue
		}
		fmt.Fprintf(log, "sysfs: %s = %s\n", s.Path, s.Value)
	}
	return failed
}

// write sets one attribute; sysfs takes a value in one write(2), so there
// is no O_TRUNC and no retry of a short write.
func write(p, value string) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	_, err = f.Write([]byte(value))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, p, err)
	}
	return nil
}

// Load reads every file of dir in lexical order.
func Load(dir string) ([]Setting, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var all []Setting
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := filepath.Join(dir, e.Name())
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		s, err := Parse(name, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		all = append(all, s...)
	}
	return all, nil
}

func main() {
	configDir := flag.String("configDir", "/etc/sysfs.d", "directory with config files")
	sysfsDir := flag.String("sysfsDir", "/sys", "mount point for sysfs")
	flag.Parse()
	settings, err := Load(*configDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sysfs: %v\n", err)
		os.Exit(1)
	}
	if n := Apply(*sysfsDir, settings, os.Stdout); n > 0 {
		fmt.Fprintf(os.Stderr, "sysfs: %d of %d settings failed\n", n, len(settings))
		os.Exit(1)
	}
}
