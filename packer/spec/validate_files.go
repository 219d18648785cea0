package spec

import (
	"path"
	"strings"

	"gopkg.in/yaml.v3"
)

// fileEntry checks one entry of the files section.
func (v *validator) fileEntry(f *File, n *yaml.Node, p string) {
	at := func(key string) *yaml.Node { return node(n, key) }
	switch {
	case at("path") == nil:
		v.errorf(n, nil, p, "missing required field \"path\"")
	case strings.TrimSpace(f.Path) == "":
		v.errorf(at("path"), n, p+".path", "must not be empty")
	default:
		clean := path.Clean("/" + f.Path)
		if clean == "/" {
			v.errorf(at("path"), n, p+".path", "%q names the root directory", f.Path)
		} else if strings.Contains("/"+f.Path+"/", "/../") {
			v.errorf(at("path"), n, p+".path", "%q must not contain \"..\"", f.Path)
		}
	}
	var kinds []string
	if f.Contents != nil {
		kinds = append(kinds, "contents")
	}
	if f.Source != "" {
		kinds = append(kinds, "source")
	}
	if f.Symlink != "" {
		kinds = append(kinds, "symlink")
	}
	if f.Metadata != "" {
		kinds = append(kinds, "metadata")
	}
	if f.Directory {
		kinds = append(kinds, "directory")
	}
	// LinuxKit builds a directory or a symlink that also sets another kind
	// the build would ignore (contents with symlink; symlink with
	// directory): Keel builds the same, with a warning. Other pairs
	// LinuxKit refuses too.
	if len(kinds) == 2 && (kinds[0] == "contents" && kinds[1] == "symlink" || kinds[0] == "symlink" && kinds[1] == "directory") {
		wins := "symlink"
		if kinds[1] == "directory" {
			wins = "directory"
		}
		v.warnf(at(kinds[1]), n, p, "sets both %s and %s: LinuxKit builds the %s and ignores the rest, and so does Keel", kinds[0], kinds[1], wins)
		kinds = kinds[:1]
	}
	switch len(kinds) {
	case 0:
		v.errorf(n, nil, p, "say what the file is: set one of contents, source, symlink, metadata or directory: true")
	case 1:
	default:
		v.errorf(at(kinds[1]), n, p, "sets both %s and %s; use exactly one of contents, source, symlink, metadata or directory: true", kinds[0], kinds[1])
	}
	if f.Metadata != "" && f.Metadata != "yaml" && f.Metadata != "json" {
		v.errorf(at("metadata"), n, p+".metadata", "unsupported metadata format %q (want \"yaml\" or \"json\")", f.Metadata)
	}
	if f.Optional && f.Source == "" {
		v.warnf(at("optional"), n, p+".optional", "only applies to files with a source; ignored")
	}
	if f.Mode != "" {
		if _, err := ParseMode(f.Mode); err != nil {
			v.errorf(at("mode"), n, p+".mode", "%v", err)
		}
	}
	for _, id := range []struct {
		key string
		val interface{}
	}{{"uid", f.UID}, {"gid", f.GID}} {
		if s, ok := id.val.(string); ok && strings.TrimSpace(s) == "" {
			v.errorf(at(id.key), n, p+"."+id.key, "must be a number or a non-empty name")
		}
	}
}
