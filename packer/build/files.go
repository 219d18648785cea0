package build

import (
	"archive/tar"
	"fmt"
	"os"
	"strconv"

	"github.com/keel-os/keel/packer/rootfs"
	"github.com/keel-os/keel/packer/spec"
)

// fileEntries turns the spec's `files` section into image entries.
func fileEntries(files []spec.File) ([]rootfs.Entry, error) {
	var out []rootfs.Entry
	for _, f := range files {
		e, ok, err := fileEntry(f)
		if err != nil {
			return nil, fmt.Errorf("%s: files entry %q: %w", f.Pos, f.Path, err)
		}
		if ok {
			out = append(out, e)
		}
	}
	return out, nil
}

func fileEntry(f spec.File) (rootfs.Entry, bool, error) {
	h := tar.Header{Name: f.Path, Typeflag: tar.TypeReg, Mode: 0o600}
	if f.Directory {
		h.Typeflag, h.Mode = tar.TypeDir, 0o700
	}
	if f.Mode != "" {
		m, err := strconv.ParseUint(f.Mode, 8, 32)
		if err != nil {
			return rootfs.Entry{}, false, fmt.Errorf("mode %q is not an octal number such as \"0644\"", f.Mode)
		}
		h.Mode = int64(m)
	}
	var err error
	if h.Uid, err = numericID(f.UID); err != nil {
		return rootfs.Entry{}, false, fmt.Errorf("uid: %w", err)
	}
	if h.Gid, err = numericID(f.GID); err != nil {
		return rootfs.Entry{}, false, fmt.Errorf("gid: %w", err)
	}
	var body []byte
	switch {
	case f.Directory:
	case f.Symlink != "":
		h.Typeflag, h.Linkname = tar.TypeSymlink, f.Symlink
	case f.Source != "":
		// spec.Parse has expanded a leading ~/ already.
		body, err = os.ReadFile(f.Source)
		if os.IsNotExist(err) && f.Optional {
			return rootfs.Entry{}, false, nil
		}
		if err != nil {
			return rootfs.Entry{}, false, fmt.Errorf("reading source: %w", err)
		}
	case f.Metadata != "":
		return rootfs.Entry{}, false, fmt.Errorf("metadata: %s is not supported yet", f.Metadata)
	case f.Contents != nil:
		body = []byte(*f.Contents)
	}
	return rootfs.Entry{Hdr: h, Body: body}, true, nil
}

// numericID accepts what YAML gives for uid/gid: nothing, a number, or a
// numeric string. Names need the image's /etc/passwd and come later.
func numericID(v any) (int, error) {
	switch x := v.(type) {
	case nil:
		return 0, nil
	case int:
		return x, nil
	case string:
		n, err := strconv.Atoi(x)
		if err != nil {
			return 0, fmt.Errorf("%q: only numeric ids are supported here", x)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("%v: want a number", v)
	}
}
