package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sort"
)

// jsonEntry is LinuxKit's userdata tree node: a file has content, a
// directory has entries, either may have perm (octal string).
type jsonEntry struct {
	Perm    string               `json:"perm,omitempty"`
	Content *string              `json:"content,omitempty"`
	Entries map[string]jsonEntry `json:"entries,omitempty"`
}

// ErrNotJSON says userdata is not a LinuxKit JSON tree; it is kept raw only.
var ErrNotJSON = errors.New("userdata is not a JSON object")

// ErrTooBig says the expanded tree passed a limit; nothing of it is written.
var ErrTooBig = errors.New("userdata tree too big")

// ExpandJSON turns LinuxKit's JSON userdata ({name: {perm, content |
// entries}}) into entries, parents before children, in name order. Bad
// entries (invalid names, unparsable modes, both or neither of content and
// entries) are skipped and described in the returned notes; forbidden mode
// bits are removed and noted. Passing a limit is an error and returns no
// entries, so a tree is never written in part.
func ExpandJSON(data []byte, lim Limits) ([]Entry, []string, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, nil, ErrNotJSON
	}
	var root map[string]jsonEntry
	if err := json.Unmarshal(trimmed, &root); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrNotJSON, err)
	}
	x := expander{lim: lim}
	x.walk("", root, 1)
	if x.err != nil {
		return nil, x.notes, x.err
	}
	return x.out, x.notes, nil
}

type expander struct {
	lim   Limits
	out   []Entry
	notes []string
	bytes int64
	err   error
}

func (x *expander) note(format string, args ...any) {
	x.notes = append(x.notes, fmt.Sprintf(format, args...))
}

func (x *expander) walk(dir string, entries map[string]jsonEntry, depth int) {
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if x.err != nil {
			return
		}
		e := entries[name]
		if !ValidName(name) {
			x.note("userdata: skipping %q in %q: not a plain file name", name, "/"+dir)
			continue
		}
		p := name
		if dir != "" {
			p = dir + "/" + name
		}
		if depth > x.lim.TreeDepth {
			x.err = fmt.Errorf("%w: %s is nested deeper than %d", ErrTooBig, p, x.lim.TreeDepth)
			return
		}
		isFile, isDir := e.Content != nil && e.Entries == nil, e.Content == nil && e.Entries != nil
		if !isFile && !isDir {
			x.note("userdata: skipping %s: want exactly one of content and entries", p)
			continue
		}
		def := fs.FileMode(0o644)
		if isDir {
			def = 0o755
		}
		mode, stripped, err := ParseMode(e.Perm, def)
		if err != nil {
			x.note("userdata: skipping %s: %v", p, err)
			continue
		}
		if stripped {
			x.note("userdata: %s: removed setuid/setgid/sticky/world-writable bits from %s", p, e.Perm)
		}
		if len(x.out) >= x.lim.TreeEntries {
			x.err = fmt.Errorf("%w: more than %d entries", ErrTooBig, x.lim.TreeEntries)
			return
		}
		if isFile {
			x.bytes += int64(len(*e.Content))
			if x.bytes > x.lim.TreeBytes {
				x.err = fmt.Errorf("%w: more than %d bytes of content", ErrTooBig, x.lim.TreeBytes)
				return
			}
			x.out = append(x.out, Entry{Path: p, Mode: mode, Content: []byte(*e.Content)})
			continue
		}
		x.out = append(x.out, Entry{Path: p, Dir: true, Mode: mode})
		x.walk(p, e.Entries, depth+1)
	}
}
