package metadata

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// reserved are names in /run/config that userdata may not replace: they say
// where the data came from and what it was.
var reserved = map[string]bool{"provider": true, "userdata": true}

// Plan is everything to be written for one boot: the /run/config tree and
// files for /var (from #cloud-config write_files).
type Plan struct {
	Config []Entry
	Var    []Entry
	// Hostname is the validated hostname to apply ("" for none).
	Hostname string
	Notes    []string
}

// MakePlan turns a provider's data into what goes on disk, in LinuxKit's
// order: provider, per-provider files, hostname, ssh/authorized_keys, raw
// userdata, then the userdata's JSON tree or #cloud-config, which may
// replace earlier files other than provider and userdata.
func MakePlan(d *Data, lim Limits) *Plan {
	p := &Plan{}
	add := func(e Entry) { p.Config = append(p.Config, e) }
	add(Entry{Path: "provider", Mode: 0o644, Content: []byte(d.Provider)})
	names := make([]string, 0, len(d.Files))
	for n := range d.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !ValidRelPath(n) || reserved[n] {
			p.Notes = append(p.Notes, fmt.Sprintf("%s: skipping provider file %q: not a safe name", d.Provider, n))
			continue
		}
		add(Entry{Path: n, Mode: 0o644, Content: []byte(d.Files[n])})
	}
	if d.Hostname != "" {
		if h, err := ValidHostname(d.Hostname); err != nil {
			p.Notes = append(p.Notes, fmt.Sprintf("%s: ignoring hostname: %v", d.Provider, err))
		} else {
			add(Entry{Path: "hostname", Mode: 0o644, Content: []byte(h)})
		}
	}
	if keys := cleanKeys(d.SSHKeys); len(keys) > 0 {
		add(Entry{Path: "ssh", Dir: true, Mode: 0o755})
		add(Entry{Path: "ssh/authorized_keys", Mode: 0o600, Content: []byte(strings.Join(keys, "\n") + "\n")})
	}
	if d.Userdata != nil {
		add(Entry{Path: "userdata", Mode: 0o600, Content: d.Userdata})
		p.userdata(d.Userdata, lim)
	}
	// The hostname applied is the one the final tree holds, as in LinuxKit,
	// where userdata may set it.
	for _, e := range p.Config {
		if e.Path == "hostname" && !e.Dir {
			if h, err := ValidHostname(string(e.Content)); err == nil {
				p.Hostname = h
			} else {
				p.Notes = append(p.Notes, fmt.Sprintf("not applying hostname from /run/config/hostname: %v", err))
				p.Hostname = ""
			}
		}
	}
	return p
}

func (p *Plan) userdata(ud []byte, lim Limits) {
	if IsCloudConfig(ud) {
		p.cloudConfig(ud, lim)
		return
	}
	entries, notes, err := ExpandJSON(ud, lim)
	p.Notes = append(p.Notes, notes...)
	switch {
	case errors.Is(err, ErrNotJSON):
		return
	case err != nil:
		p.Notes = append(p.Notes, fmt.Sprintf("userdata: not expanding the JSON tree: %v", err))
		return
	}
	for _, e := range entries {
		if reserved[e.Path] {
			p.Notes = append(p.Notes, fmt.Sprintf("userdata: skipping %s: reserved name", e.Path))
			continue
		}
		p.Config = append(p.Config, e)
	}
}

func cleanKeys(keys []string) []string {
	var out []string
	for _, k := range keys {
		for _, line := range strings.Split(k, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") || len(line) > 16<<10 || strings.ContainsRune(line, 0) {
				continue
			}
			out = append(out, line)
		}
	}
	return out
}

// ValidHostname trims h and checks it as an RFC 1123 host name the kernel
// accepts (at most 64 bytes). A longer FQDN is cut to its first label.
func ValidHostname(h string) (string, error) {
	h = strings.TrimSuffix(strings.TrimSpace(h), ".")
	if len(h) > 64 {
		h, _, _ = strings.Cut(h, ".")
	}
	if h == "" || len(h) > 64 {
		return "", fmt.Errorf("hostname %q: want 1 to 64 characters", h)
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("hostname %q: label %q must be 1-63 characters and not start or end with '-'", h, label)
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("hostname %q: %q is not a letter, digit or '-'", h, c)
			}
		}
	}
	return h, nil
}

// WriteConfig writes entries as the directory dir (e.g. /run/config) in one
// step: it builds the tree in a fresh directory next to dir through an
// os.Root (no "..", no absolute names, no symlinks out), then renames it into
// place, so readers see the old tree or the new one, never a partial one.
// Entries that cannot be written are skipped and returned as notes.
func WriteConfig(dir string, entries []Entry) ([]string, error) {
	parent := filepath.Dir(dir)
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+"-new-")
	if err != nil {
		return nil, fmt.Errorf("creating a directory for the new %s: %w", dir, err)
	}
	defer os.RemoveAll(tmp)
	notes, err := writeTree(tmp, entries)
	if err != nil {
		return notes, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return notes, err
	}
	if err := replaceDir(tmp, dir); err != nil {
		return notes, err
	}
	return notes, nil
}

// replaceDir moves tmp to dir. An existing dir is swapped out atomically and
// its old contents removed (they end up at tmp, which the caller deletes).
func replaceDir(tmp, dir string) error {
	err := os.Rename(tmp, dir)
	if err == nil {
		return nil
	}
	if _, serr := os.Lstat(dir); serr != nil {
		return fmt.Errorf("moving the new tree to %s: %w", dir, err)
	}
	if err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, dir, unix.RENAME_EXCHANGE); err != nil {
		return fmt.Errorf("swapping the new tree into %s: %w", dir, err)
	}
	return nil
}

// WriteInto writes entries into an existing directory (e.g. /var) through an
// os.Root, creating parents 0755. It is not atomic: use it only for files
// that belong to no tree of their own.
func WriteInto(dir string, entries []Entry) ([]string, error) {
	return writeTree(dir, entries)
}

func writeTree(dir string, entries []Entry) ([]string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", dir, err)
	}
	defer root.Close()
	var notes []string
	// Directories stay writable by us until the end: without
	// CAP_DAC_OVERRIDE a 0555 directory could not receive its children.
	dirModes := map[string]fs.FileMode{}
	for _, e := range entries {
		if !ValidRelPath(e.Path) {
			notes = append(notes, fmt.Sprintf("skipping %q: not a clean relative path", e.Path))
			continue
		}
		if parent := path.Dir(e.Path); parent != "." {
			if err := root.MkdirAll(parent, 0o755); err != nil {
				notes = append(notes, fmt.Sprintf("skipping %s: %v", e.Path, err))
				continue
			}
		}
		if e.Dir {
			err := root.Mkdir(e.Path, 0o700)
			if err != nil && errors.Is(err, fs.ErrExist) {
				fi, serr := root.Lstat(e.Path)
				if serr == nil && fi.IsDir() {
					err = nil
				}
			}
			if err != nil {
				notes = append(notes, fmt.Sprintf("skipping directory %s: %v", e.Path, err))
				continue
			}
			dirModes[e.Path] = SafeMode(e.Mode)
			continue
		}
		if fi, err := root.Lstat(e.Path); err == nil {
			if fi.IsDir() {
				notes = append(notes, fmt.Sprintf("skipping file %s: a directory has that name", e.Path))
				continue
			}
			if err := root.Remove(e.Path); err != nil {
				notes = append(notes, fmt.Sprintf("skipping file %s: %v", e.Path, err))
				continue
			}
		}
		if err := writeFile(root, e); err != nil {
			notes = append(notes, fmt.Sprintf("skipping file %s: %v", e.Path, err))
		}
	}
	// Deepest first, so a read-only parent is set after its children.
	dirs := make([]string, 0, len(dirModes))
	for d := range dirModes {
		dirs = append(dirs, d)
	}
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	for _, d := range dirs {
		if err := root.Chmod(d, dirModes[d]); err != nil {
			return notes, fmt.Errorf("setting the mode of %s: %w", d, err)
		}
	}
	return notes, nil
}

func writeFile(root *os.Root, e Entry) error {
	mode := SafeMode(e.Mode)
	f, err := root.OpenFile(e.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(e.Content); err != nil {
		f.Close()
		return err
	}
	// The umask may have narrowed the mode at creation.
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
