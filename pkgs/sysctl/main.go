// Command sysctl applies kernel settings from sysctl.d-style files, the way
// LinuxKit's sysctl onboot container does: every *.conf in the given
// directories, in lexical order, later settings overriding earlier ones.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Setting is one `key = value` line with where it came from.
type Setting struct {
	Key, Value string
	File       string
	Line       int
	// Optional settings (a leading '-') do not count as failures when the
	// kernel lacks the key, as in procps' sysctl.
	Optional bool
}

// Parse reads sysctl.conf syntax: `key = value`, `#`/`;` comments, blank lines.
func Parse(name string, r io.Reader) ([]Setting, error) {
	var out []Setting
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: %q is not `key = value`", name, n, line)
		}
		s := Setting{Key: strings.TrimSpace(k), Value: strings.TrimSpace(v), File: name, Line: n}
		if strings.HasPrefix(s.Key, "-") {
			s.Optional, s.Key = true, strings.TrimPrefix(s.Key, "-")
		}
		if s.Key == "" || strings.Contains(s.Key, "..") {
			return nil, fmt.Errorf("%s:%d: bad key %q", name, n, s.Key)
		}
		out = append(out, s)
	}
	return out, sc.Err()
}

// Path maps a key (dots or slashes) to its file under procSys.
func Path(procSys, key string) string {
	return filepath.Join(procSys, strings.ReplaceAll(key, ".", "/"))
}

// Apply writes each setting and returns how many failed.
func Apply(procSys string, settings []Setting, log io.Writer) int {
	failed := 0
	for _, s := range settings {
		err := os.WriteFile(Path(procSys, s.Key), []byte(s.Value), 0)
		switch {
		case err == nil:
			fmt.Fprintf(log, "sysctl: %s = %s\n", s.Key, s.Value)
		case s.Optional && os.IsNotExist(err):
		default:
			failed++
			fmt.Fprintf(log, "sysctl: %s:%d: setting %s: %v\n", s.File, s.Line, s.Key, err)
		}
	}
	return failed
}

func files(dirs []string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		m, err := filepath.Glob(filepath.Join(d, "*.conf"))
		if err != nil {
			return nil, err
		}
		sort.Strings(m)
		out = append(out, m...)
	}
	return out, nil
}

func main() {
	procSys := flag.String("proc-sys", "/proc/sys", "where the kernel's settings are")
	strict := flag.Bool("strict", false, "exit non-zero when a setting fails")
	flag.Parse()
	dirs := flag.Args()
	if len(dirs) == 0 {
		dirs = []string{"/etc/sysctl.d"}
	}
	names, err := files(dirs)
	if err != nil {
		fmt.Fprintf(os.Stderr, "sysctl: %v\n", err)
		os.Exit(1)
	}
	var all []Setting
	for _, n := range names {
		f, err := os.Open(n)
		if err != nil {
			fmt.Fprintf(os.Stderr, "sysctl: %v\n", err)
			os.Exit(1)
		}
		s, err := Parse(n, f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "sysctl: %v\n", err)
			os.Exit(1)
		}
		all = append(all, s...)
	}
	failed := Apply(*procSys, all, os.Stdout)
	fmt.Printf("sysctl: applied %d of %d settings from %d files\n", len(all)-failed, len(all), len(names))
	if failed > 0 && *strict {
		os.Exit(1)
	}
}
