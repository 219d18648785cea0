package spec

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// FirstContainerID is the first of the ids allocated to containers.
const FirstContainerID = 100

// ContainerIDs gives every container an id, as LinuxKit does, so that a
// `uid` or `gid` anywhere in the spec (a container's or a file's) may name
// a container instead of giving a number: a service can run as its own user
// and own the files written for it. Ids count from FirstContainerID through
// onboot, onshutdown and then services, in spec order, so the same spec
// gives LinuxKit's numbers.
func (s *Spec) ContainerIDs() map[string]uint32 {
	ids := map[string]uint32{}
	next := uint32(FirstContainerID)
	for _, list := range [][]*Image{s.Onboot, s.Onshutdown, s.Services} {
		for _, img := range list {
			ids[img.Name] = next
			next++
		}
	}
	return ids
}

// ResolveID turns a uid or gid as YAML gives it (nothing, a number, a
// numeric string, "root" or a container name) into a number. ok is false
// for a name that is not in ids, so the caller can try other names (an
// image's /etc/passwd) before reporting it.
func ResolveID(v any, ids map[string]uint32) (id uint32, ok bool, err error) {
	switch x := v.(type) {
	case nil:
		return 0, true, nil
	case int:
		if x < 0 || int64(x) > 1<<32-1 {
			return 0, false, fmt.Errorf("id %d is out of range 0-4294967295", x)
		}
		return uint32(x), true, nil
	case string:
		if x == "" || x == "root" {
			return 0, true, nil
		}
		if n, err := strconv.ParseUint(x, 10, 32); err == nil {
			return uint32(n), true, nil
		}
		if n, found := ids[x]; found {
			return n, true, nil
		}
		return 0, false, nil
	}
	return 0, false, fmt.Errorf("want a number or a name, got %v", v)
}

// NameList lists the names of ids for error messages.
func NameList(ids map[string]uint32) string {
	if len(ids) == 0 {
		return "none: the spec has no containers"
	}
	names := make([]string, 0, len(ids))
	for n := range ids {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}
