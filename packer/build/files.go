package build

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"

	"github.com/keel-os/keel/packer/rootfs"
	"github.com/keel-os/keel/packer/spec"
)

// fileEntries turns the spec's `files` section into image entries. s is
// the merged, resolved spec: `metadata` files hold it.
func fileEntries(s *spec.Spec) ([]rootfs.Entry, error) {
	var out []rootfs.Entry
	for _, f := range s.Files {
		es, err := fileEntry(s, f)
		if err != nil {
			return nil, fmt.Errorf("%s: files entry %q: %w", f.Pos, f.Path, err)
		}
		out = append(out, es...)
	}
	return out, nil
}

func fileEntry(s *spec.Spec, f spec.File) ([]rootfs.Entry, error) {
	h := tar.Header{Name: f.Path, Typeflag: tar.TypeReg, Mode: 0o600}
	if f.Directory {
		h.Typeflag, h.Mode = tar.TypeDir, 0o700
	}
	explicitMode := f.Mode != ""
	if explicitMode {
		m, err := strconv.ParseUint(f.Mode, 8, 32)
		if err != nil {
			return nil, fmt.Errorf("mode %q is not an octal number such as \"0644\"", f.Mode)
		}
		h.Mode = int64(m)
	}
	var err error
	ids := s.ContainerIDs()
	if h.Uid, err = fileID("uid", f.UID, ids); err != nil {
		return nil, err
	}
	if h.Gid, err = fileID("gid", f.GID, ids); err != nil {
		return nil, err
	}
	var body []byte
	switch {
	case f.Directory:
	case f.Symlink != "":
		h.Typeflag, h.Linkname = tar.TypeSymlink, f.Symlink
	case f.Source != "":
		// spec.Parse has expanded a leading ~/ already.
		st, err := os.Stat(f.Source)
		if os.IsNotExist(err) && f.Optional {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading source: %w", err)
		}
		if st.IsDir() {
			if !explicitMode {
				h.Mode = 0o755
			}
			return sourceDir(h, f.Source)
		}
		if body, err = os.ReadFile(f.Source); err != nil {
			return nil, fmt.Errorf("reading source: %w", err)
		}
	case f.Metadata != "":
		switch f.Metadata {
		case "yaml":
			body, err = s.YAML()
		case "json":
			body, err = s.JSON()
		default:
			err = fmt.Errorf("metadata %q: want yaml or json", f.Metadata)
		}
		if err != nil {
			return nil, err
		}
	case f.Contents != nil:
		body = []byte(*f.Contents)
	}
	return []rootfs.Entry{{Hdr: h, Body: body}}, nil
}

// sourceDir copies a host directory recursively: dir is the entry for its
// root (mode, owner); below it, files and directories keep their host
// permission bits and symlinks their targets, owned by dir's uid/gid.
// Entries are sorted, so the image does not depend on the host's
// directory order.
func sourceDir(dir tar.Header, root string) ([]rootfs.Entry, error) {
	dir.Typeflag = tar.TypeDir
	out := []rootfs.Entry{{Hdr: dir}}
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading source directory: %w", err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return nil, err
		}
		st, err := os.Lstat(p)
		if err != nil {
			return nil, fmt.Errorf("reading source directory: %w", err)
		}
		h := tar.Header{Name: path.Join(dir.Name, filepath.ToSlash(rel)), Uid: dir.Uid, Gid: dir.Gid, Mode: int64(st.Mode().Perm())}
		var body []byte
		switch {
		case st.IsDir():
			h.Typeflag = tar.TypeDir
		case st.Mode().IsRegular():
			h.Typeflag = tar.TypeReg
			if body, err = os.ReadFile(p); err != nil {
				return nil, fmt.Errorf("reading source directory: %w", err)
			}
		case st.Mode()&fs.ModeSymlink != 0:
			h.Typeflag, h.Mode = tar.TypeSymlink, 0o777
			if h.Linkname, err = os.Readlink(p); err != nil {
				return nil, fmt.Errorf("reading source directory: %w", err)
			}
		default:
			return nil, fmt.Errorf("source directory: %s is a %s; only files, directories and symlinks can be copied", p, st.Mode().Type())
		}
		out = append(out, rootfs.Entry{Hdr: h, Body: body})
	}
	return out, nil
}

// fileID reads a file's uid or gid: a number, "root", or the name of a
// container of the spec (the id LinuxKit allocates to it).
func fileID(what string, v any, ids map[string]uint32) (int, error) {
	id, ok, err := spec.ResolveID(v, ids)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if !ok {
		return 0, fmt.Errorf("%s %q: no container has that name (containers: %s); give a number or a container name", what, v, spec.NameList(ids))
	}
	return int(id), nil
}
