// Command binfmt registers binfmt_misc handlers, with the command line of
// LinuxKit's binfmt onboot container: it mounts binfmt_misc at -mount
// (/proc/sys/fs/binfmt_misc) and writes every line of every file in -dir
// (/etc/binfmt.d), in lexical order, to its register file. Lines are the
// kernel's format, `:name:type:offset:magic:mask:interpreter:flags`
// (Documentation/admin-guide/binfmt-misc.rst); blank lines and lines
// starting with # are skipped. A handler of the same name is replaced.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maxRule is the kernel's limit on one registration (MAX_REGISTER_LENGTH).
const maxRule = 1920

// Rule is one handler line with where it came from.
type Rule struct {
	Line        string
	Name        string
	Interpreter string
	Flags       string
	File        string
	N           int
}

// parseRule checks the shape the kernel wants, so a bad line is reported
// with its file and line rather than as the kernel's bare EINVAL.
func parseRule(file string, n int, line string) (Rule, error) {
	if len(line) > maxRule {
		return Rule{}, fmt.Errorf("%s:%d: %d bytes, more than the kernel's %d", file, n, len(line), maxRule)
	}
	if len(line) < 2 {
		return Rule{}, fmt.Errorf("%s:%d: %q is not :name:type:offset:magic:mask:interpreter:flags", file, n, line)
	}
	// The first character is the delimiter of the fields (usually ':').
	fields := strings.Split(line[1:], line[:1])
	if len(fields) < 6 || len(fields) > 7 {
		return Rule{}, fmt.Errorf("%s:%d: %q has %d fields, want name:type:offset:magic:mask:interpreter:flags", file, n, line, len(fields))
	}
	name := fields[0]
	if name == "" || name == "." || name == ".." || strings.Contains(name, "/") || name == "register" || name == "status" {
		return Rule{}, fmt.Errorf("%s:%d: bad handler name %q", file, n, name)
	}
	if t := fields[1]; t != "M" && t != "E" {
		return Rule{}, fmt.Errorf("%s:%d: type %q: want M (magic) or E (extension)", file, n, t)
	}
	if fields[5] == "" {
		return Rule{}, fmt.Errorf("%s:%d: handler %s names no interpreter", file, n, name)
	}
	r := Rule{Line: line, Name: name, Interpreter: fields[5], File: file, N: n}
	if len(fields) == 7 {
		r.Flags = fields[6]
	}
	return r, nil
}

// Parse reads one configuration file.
func Parse(file string, r io.Reader) ([]Rule, error) {
	var out []Rule
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 2*maxRule)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), " \t\r")
		if line == "" || line[0] == '#' {
			continue
		}
		rule, err := parseRule(file, n, line)
		if err != nil {
			return nil, err
		}
		out = append(out, rule)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return out, nil
}

// Load reads every file of dir in lexical order.
func Load(dir string) ([]Rule, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var all []Rule
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		name := filepath.Join(dir, e.Name())
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		rules, err := Parse(name, f)
		f.Close()
		if err != nil {
			return nil, err
		}
		all = append(all, rules...)
	}
	return all, nil
}

// Register writes r to mount's register file; a handler of that name
// already there (EEXIST) is removed first, as LinuxKit does.
func Register(mount string, r Rule) error {
	err := writeFile(filepath.Join(mount, "register"), r.Line)
	if errors.Is(err, unix.EEXIST) {
		if err := writeFile(filepath.Join(mount, r.Name), "-1"); err != nil {
			return fmt.Errorf("removing the old handler %s: %w", r.Name, err)
		}
		err = writeFile(filepath.Join(mount, "register"), r.Line)
	}
	if errors.Is(err, unix.ENOENT) && strings.Contains(r.Flags, "F") {
		return fmt.Errorf("%w (flag F opens the interpreter %s now: it must exist in the binfmt container)", err, r.Interpreter)
	}
	return err
}

func writeFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(s))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// mountBinfmt mounts binfmt_misc at mount. Its directory in /proc/sys
// exists only once the module is loaded, and the kernel loads it (through
// its modprobe helper) on the first mount of the type: so when the
// directory is missing, mount it at scratch first.
func mountBinfmt(mount, scratch string) error {
	if _, err := os.Stat(mount); errors.Is(err, os.ErrNotExist) {
		if err := unix.Mount("binfmt_misc", scratch, "binfmt_misc", 0, ""); err != nil {
			return fmt.Errorf("mount binfmt_misc on %s to load the module: %w (is binfmt_misc in the image? kernel: modules: [binfmt_misc])", scratch, err)
		}
		unix.Unmount(scratch, 0)
	}
	if err := unix.Mount("binfmt_misc", mount, "binfmt_misc", 0, ""); err != nil {
		return fmt.Errorf("mount binfmt_misc on %s: %w", mount, err)
	}
	return nil
}

// binfmtMagic is binfmt_misc's filesystem type in statfs(2).
const binfmtMagic = 0x42494e4d

// keepMounted mounts binfmt_misc on the system's mount point, bound into
// the container at dir, unless it is mounted there already. The kernel
// drops every handler when the last binfmt_misc mount goes, and this
// container's own mount goes with it: LinuxKit's init keeps one mounted
// for the system; Keel's init can only when the module was loaded before
// it ran, so binfmt does it through the binding.
func keepMounted(dir string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false, err
	}
	if st.Type == binfmtMagic {
		return false, nil
	}
	if err := unix.Mount("binfmt_misc", dir, "binfmt_misc", 0, ""); err != nil {
		return false, fmt.Errorf("mount binfmt_misc on %s: %w", dir, err)
	}
	return true, nil
}

func main() {
	dir := flag.String("dir", "/etc/binfmt.d", "directory with config files")
	mount := flag.String("mount", "/proc/sys/fs/binfmt_misc", "binfmt_misc mount point")
	keep := flag.String("keep", "/host/proc/sys/fs/binfmt_misc", "the system's binfmt_misc mount point, bound in with shared propagation: mounted so the handlers outlive this container (Keel's addition)")
	flag.Parse()
	rules, err := Load(*dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "binfmt: %v\n", err)
		os.Exit(1)
	}
	if len(rules) == 0 {
		fmt.Printf("binfmt: no handlers in %s: nothing to register\n", *dir)
		return
	}
	if err := mountBinfmt(*mount, "/usr/lib/binfmt"); err != nil {
		fmt.Fprintf(os.Stderr, "binfmt: %v\n", err)
		os.Exit(1)
	}
	defer unix.Unmount(*mount, 0)
	switch mounted, err := keepMounted(*keep); {
	case err != nil:
		fmt.Fprintf(os.Stderr, "binfmt: %v: the handlers last only while something keeps binfmt_misc mounted (bind the system's /proc/sys/fs to /host/proc/sys/fs with rshared, as this package's label does)\n", err)
	case mounted:
		fmt.Printf("binfmt: mounted binfmt_misc on the system's /proc/sys/fs/binfmt_misc, so the handlers stay\n")
	}
	failed := 0
	for _, r := range rules {
		if err := Register(*mount, r); err != nil {
			fmt.Fprintf(os.Stderr, "binfmt: %s:%d: registering %s: %v\n", r.File, r.N, r.Name, err)
			failed++
			continue
		}
		fmt.Printf("binfmt: registered %s (interpreter %s)\n", r.Name, r.Interpreter)
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "binfmt: %d of %d handlers failed\n", failed, len(rules))
		unix.Unmount(*mount, 0)
		os.Exit(1)
	}
}
