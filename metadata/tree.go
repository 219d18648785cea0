package metadata

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Entry is one file or directory to create under a root, by a relative,
// slash-separated, clean path.
type Entry struct {
	Path    string
	Dir     bool
	Mode    fs.FileMode
	Content []byte
}

// ValidName reports whether s may be one path element of a written file:
// not empty, not . or .., no slash or NUL, at most 255 bytes.
func ValidName(s string) bool {
	return s != "" && s != "." && s != ".." && len(s) <= 255 && !strings.ContainsAny(s, "/\x00")
}

// ValidRelPath reports whether p is a clean relative path of valid names.
func ValidRelPath(p string) bool {
	if p == "" || path.Clean(p) != p || strings.HasPrefix(p, "/") {
		return false
	}
	for _, e := range strings.Split(p, "/") {
		if !ValidName(e) {
			return false
		}
	}
	return true
}

// forbiddenMode are the bits no written file or directory may carry:
// setuid, setgid, sticky and world-writable.
const forbiddenMode = fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky | 0o002

// ParseMode reads an octal permission string ("0644", "600"); empty gives
// def. It returns the mode with forbidden bits removed and whether any were.
func ParseMode(s string, def fs.FileMode) (fs.FileMode, bool, error) {
	if s == "" {
		return def, false, nil
	}
	n, err := strconv.ParseUint(strings.TrimSpace(s), 8, 32)
	if err != nil || n > 0o7777 {
		return 0, false, fmt.Errorf("permission %q is not an octal mode like \"0644\"", s)
	}
	m := fs.FileMode(n & 0o777)
	if n&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m &^ forbiddenMode, m&forbiddenMode != 0, nil
}

// SafeMode removes the forbidden bits from m.
func SafeMode(m fs.FileMode) fs.FileMode { return m.Perm() &^ 0o002 }
