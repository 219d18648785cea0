package bundle

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/keel-os/keel/packer/spec"
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
	if u.UID, err = b.resolveID("uid", deref(firstPtr(img.UID, label.UID)), "/etc/passwd"); err != nil {
		return u, err
	}
	if u.GID, err = b.resolveID("gid", deref(firstPtr(img.GID, label.GID)), "/etc/group"); err != nil {
		return u, err
	}
	if list := firstPtr(img.AdditionalGids, label.AdditionalGids); list != nil {
		for _, g := range *list {
			id, err := b.resolveID("additionalGids", g, "/etc/group")
			if err != nil {
				return u, err
			}
			u.AdditionalGids = append(u.AdditionalGids, id)
		}
	}
	return u, nil
}

// resolveID reads a uid or gid: a number, "root", a container name (the id
// allocated to that container) or a name in the image's file.
func (b *builder) resolveID(what string, v interface{}, file string) (uint32, error) {
	id, ok, err := spec.ResolveID(v, b.opts.containers)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if ok {
		return id, nil
	}
	name := v.(string) // ResolveID leaves only unknown names unresolved
	if b.opts.users == nil && b.opts.groups == nil && b.opts.idSource != nil {
		if b.opts.users, b.opts.groups, err = b.opts.idSource(); err != nil {
			return 0, fmt.Errorf("%s %q: %w", what, name, err)
		}
	}
	names := b.opts.users
	if file == "/etc/group" {
		names = b.opts.groups
	}
	if n, found := names[name]; found {
		return n, nil
	}
	if names == nil {
		return 0, fmt.Errorf("%s %q: not a container of this spec (%s); a user name needs the image's %s; use a number", what, name, spec.NameList(b.opts.containers), file)
	}
	return 0, fmt.Errorf("%s %q: neither a container of this spec (%s) nor a name in the image's %s", what, name, spec.NameList(b.opts.containers), file)
}
