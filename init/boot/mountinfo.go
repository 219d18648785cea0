package boot

import (
	"os"
	"strconv"
	"strings"
)

// mountEntry is one line of /proc/self/mountinfo.
type mountEntry struct {
	point  string
	fstype string
	source string
}

func readMountinfo() ([]mountEntry, error) {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return parseMountinfo(string(raw)), nil
}

// parseMountinfo reads mountinfo lines: "id parent maj:min root point opts
// [optional fields...] - fstype source superopts". Malformed lines are
// skipped.
func parseMountinfo(s string) []mountEntry {
	var out []mountEntry
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if len(f) < 5 || sep < 0 || sep+2 >= len(f) {
			continue
		}
		out = append(out, mountEntry{point: unescapeOctal(f[4]), fstype: f[sep+1], source: unescapeOctal(f[sep+2])})
	}
	return out
}

// unescapeOctal undoes the kernel's \ooo escaping of spaces and the like.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountedAt reports whether something is mounted at point.
func mountedAt(mounts []mountEntry, point string) bool {
	for _, m := range mounts {
		if m.point == point {
			return true
		}
	}
	return false
}

// rootFSType is the filesystem type of the mount currently at "/".
func rootFSType(mounts []mountEntry) string {
	t := ""
	for _, m := range mounts {
		if m.point == "/" {
			t = m.fstype // the last one is on top
		}
	}
	return t
}
