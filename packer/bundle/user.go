package bundle

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ParseIDs reads an /etc/passwd or /etc/group file into a name -> id map.
// Malformed lines are skipped: they are the image's business, and a name
// that is missing is reported when it is used.
func ParseIDs(data []byte) map[string]uint32 {
	ids := map[string]uint32{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) < 3 || f[0] == "" {
			continue
		}
		id, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		if _, dup := ids[f[0]]; !dup {
			ids[f[0]] = uint32(id)
		}
	}
	return ids
}

// user resolves uid, gid and additionalGids (YAML over label; default root).
// The image config's User is not used, as in LinuxKit.
func (b *builder) user() (specs.User, error) {
	img, label := b.img, b.label
	var u specs.User
	var err error
	if u.UID, err = resolveID("uid", deref(firstPtr(img.UID, label.UID)), b.opts.users, "/etc/passwd"); err != nil {
		return u, err
	}
	if u.GID, err = resolveID("gid", deref(firstPtr(img.GID, label.GID)), b.opts.groups, "/etc/group"); err != nil {
		return u, err
	}
	if list := firstPtr(img.AdditionalGids, label.AdditionalGids); list != nil {
		for _, g := range *list {
			id, err := resolveID("additionalGids", g, b.opts.groups, "/etc/group")
			if err != nil {
				return u, err
			}
			u.AdditionalGids = append(u.AdditionalGids, id)
		}
	}
	return u, nil
}

func resolveID(what string, v interface{}, names map[string]uint32, file string) (uint32, error) {
	switch id := v.(type) {
	case nil:
		return 0, nil
	case int:
		if id < 0 || int64(id) > 1<<32-1 {
			return 0, fmt.Errorf("%s %d is out of range", what, id)
		}
		return uint32(id), nil
	case string:
		if id == "" || id == "root" {
			return 0, nil
		}
		if n, err := strconv.ParseUint(id, 10, 32); err == nil {
			return uint32(n), nil
		}
		if n, ok := names[id]; ok {
			return n, nil
		}
		if names == nil {
			return 0, fmt.Errorf("%s %q: names need the image's %s, which was not given; use a number", what, id, file)
		}
		return 0, fmt.Errorf("%s %q: no such name in the image's %s", what, id, file)
	}
	return 0, fmt.Errorf("%s: want a number or a name, got %T", what, v)
}
