package image

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Epoch is the modification time of every entry Keel writes into a built
// image, and the image's creation time: fixed, so that the same inputs give
// the same digest.
var Epoch = time.Unix(0, 0).UTC()

// Tree describes a filesystem to be written as a deterministic tar: sorted
// paths, fixed times, owner root, numeric ids only, and every parent
// directory present as its own entry (0755 unless added explicitly).
// Adding a path that exists replaces it, so later sources override earlier
// ones.
type Tree struct {
	nodes   map[string]*node // key: clean path without leading "/"
	parents map[string]bool  // every path that has something below it
}

type node struct {
	typ  byte  // tar.TypeReg, tar.TypeDir, tar.TypeSymlink or tar.TypeLink
	mode int64 // permission and setuid/setgid/sticky bits
	data []byte
	src  string // for regular files read from disk at write time
	link string
}

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{nodes: map[string]*node{}, parents: map[string]bool{}} }

func cleanPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("path %q must be absolute", p)
	}
	c := strings.TrimPrefix(path.Clean(p), "/")
	if c == "" {
		return "", fmt.Errorf("path %q names the root directory", p)
	}
	return c, nil
}

func (t *Tree) add(p string, n *node) error {
	c, err := cleanPath(p)
	if err != nil {
		return err
	}
	for dir := path.Dir(c); dir != "."; dir = path.Dir(dir) {
		if parent, ok := t.nodes[dir]; ok && parent.typ != tar.TypeDir {
			return fmt.Errorf("cannot add /%s: its parent /%s is not a directory", c, dir)
		}
	}
	if n.typ != tar.TypeDir && t.parents[c] {
		return fmt.Errorf("cannot add /%s as a non-directory: other entries are below it", c)
	}
	t.nodes[c] = n
	for dir := path.Dir(c); dir != "." && !t.parents[dir]; dir = path.Dir(dir) {
		t.parents[dir] = true
	}
	return nil
}

// AddBytes adds a regular file with the given content.
func (t *Tree) AddBytes(p string, mode fs.FileMode, data []byte) error {
	return t.add(p, &node{typ: tar.TypeReg, mode: tarMode(mode), data: data})
}

// AddFile adds a regular file whose content is read from src when the tree
// is written.
func (t *Tree) AddFile(p string, mode fs.FileMode, src string) error {
	return t.add(p, &node{typ: tar.TypeReg, mode: tarMode(mode), src: src})
}

// AddDir adds a directory.
func (t *Tree) AddDir(p string, mode fs.FileMode) error {
	return t.add(p, &node{typ: tar.TypeDir, mode: tarMode(mode)})
}

// AddSymlink adds a symbolic link to target.
func (t *Tree) AddSymlink(p, target string) error {
	if target == "" {
		return fmt.Errorf("symlink %s: empty target", p)
	}
	return t.add(p, &node{typ: tar.TypeSymlink, mode: 0o777, link: target})
}

// AddHardLink adds p as a second name of the regular file at target (an
// absolute path in the tree). The target must still be a regular file when
// the tree is written; the link takes its mode.
func (t *Tree) AddHardLink(p, target string) error {
	c, err := cleanPath(target)
	if err != nil {
		return fmt.Errorf("hard link %s: %w", p, err)
	}
	if n, ok := t.nodes[c]; !ok || n.typ != tar.TypeReg {
		return fmt.Errorf("hard link %s: %s is not a regular file added before it", p, target)
	}
	if pc, err := cleanPath(p); err == nil && pc == c {
		return fmt.Errorf("hard link %s: names itself", p)
	}
	return t.add(p, &node{typ: tar.TypeLink, link: c})
}

// AddDirTree adds everything below the host directory root at p: regular
// files, directories and symlinks, with their permission bits. Hard links
// become independent copies; devices, fifos and sockets are refused.
func (t *Tree) AddDirTree(p, root string) error {
	return filepath.WalkDir(root, func(hostPath string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, hostPath)
		if err != nil {
			return err
		}
		dst := path.Join(p, filepath.ToSlash(rel))
		if rel == "." && p == "/" {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case info.IsDir():
			return t.AddDir(dst, info.Mode())
		case info.Mode().IsRegular():
			return t.AddFile(dst, info.Mode(), hostPath)
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(hostPath)
			if err != nil {
				return err
			}
			return t.AddSymlink(dst, target)
		default:
			return fmt.Errorf("%s: unsupported file type %s (only files, directories and symlinks)", hostPath, info.Mode().Type())
		}
	})
}

// Paths lists the tree's absolute paths (without implied parents), sorted.
func (t *Tree) Paths() []string {
	out := make([]string, 0, len(t.nodes))
	for k := range t.nodes {
		out = append(out, "/"+k)
	}
	sort.Strings(out)
	return out
}

// Remove deletes p and everything below it. It reports whether anything
// was there.
func (t *Tree) Remove(p string) (bool, error) {
	c, err := cleanPath(p)
	if err != nil {
		return false, err
	}
	found := false
	for k := range t.nodes {
		if k == c || strings.HasPrefix(k, c+"/") {
			delete(t.nodes, k)
			found = true
		}
	}
	if !found {
		return false, nil
	}
	// Rebuild from what is left: a parent may have had only removed
	// entries below it.
	t.parents = map[string]bool{}
	for k := range t.nodes {
		for dir := path.Dir(k); dir != "." && !t.parents[dir]; dir = path.Dir(dir) {
			t.parents[dir] = true
		}
	}
	return true, nil
}

// Glob returns the absolute paths of the regular files whose path matches
// pattern (path.Match syntax, absolute), sorted.
func (t *Tree) Glob(pattern string) ([]string, error) {
	if !strings.HasPrefix(pattern, "/") {
		return nil, fmt.Errorf("pattern %q must be absolute", pattern)
	}
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("pattern %q: %w", pattern, err)
	}
	var out []string
	for k, n := range t.nodes {
		if n.typ != tar.TypeReg {
			continue
		}
		if ok, _ := path.Match(pattern, "/"+k); ok {
			out = append(out, "/"+k)
		}
	}
	sort.Strings(out)
	return out, nil
}

// ReadFile returns the content of the regular file at p.
func (t *Tree) ReadFile(p string) ([]byte, error) {
	c, err := cleanPath(p)
	if err != nil {
		return nil, err
	}
	n, ok := t.nodes[c]
	switch {
	case !ok:
		return nil, fmt.Errorf("%s: not in the tree", p)
	case n.typ != tar.TypeReg:
		return nil, fmt.Errorf("%s: not a regular file", p)
	case n.src != "":
		return os.ReadFile(n.src)
	}
	return n.data, nil
}

// WriteTar writes the tree as an uncompressed tar stream. Directory names
// end in "/", as other image builders write them.
func (t *Tree) WriteTar(w io.Writer) error {
	all := make(map[string]*node, len(t.nodes))
	for k, n := range t.nodes {
		all[k] = n
		for dir := path.Dir(k); dir != "."; dir = path.Dir(dir) {
			if _, ok := all[dir]; ok {
				break
			}
			if explicit, ok := t.nodes[dir]; ok {
				all[dir] = explicit
				continue
			}
			all[dir] = &node{typ: tar.TypeDir, mode: 0o755}
		}
	}
	names := make([]string, 0, len(all))
	for k := range all {
		names = append(names, k)
	}
	// A parent is a prefix of its children, so it sorts before them.
	sort.Strings(names)

	tw := tar.NewWriter(w)
	// Hard links go last, so each follows its target whatever the names'
	// order: readers of image layers create a link from an existing file.
	for _, links := range []bool{false, true} {
		for _, name := range names {
			n := all[name]
			if (n.typ == tar.TypeLink) != links {
				continue
			}
			if links {
				target, ok := t.nodes[n.link]
				if !ok || target.typ != tar.TypeReg {
					return fmt.Errorf("hard link /%s: its target /%s is no longer a regular file of the image", name, n.link)
				}
				n = &node{typ: tar.TypeLink, mode: target.mode, link: n.link}
			}
			if err := writeNode(tw, name, n); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

func writeNode(tw *tar.Writer, name string, n *node) error {
	hdr := &tar.Header{
		Typeflag: n.typ,
		Name:     name,
		Mode:     n.mode,
		ModTime:  Epoch,
		Linkname: n.link,
	}
	if n.typ == tar.TypeDir {
		hdr.Name += "/"
	}
	if n.typ != tar.TypeReg {
		return tw.WriteHeader(hdr)
	}
	if n.src == "" {
		hdr.Size = int64(len(n.data))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(n.data)
		return err
	}
	f, err := os.Open(n.src)
	if err != nil {
		return fmt.Errorf("adding /%s: %w", name, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("adding /%s: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("adding /%s: %s is not a regular file", name, n.src)
	}
	hdr.Size = st.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("adding /%s from %s: %w", name, n.src, err)
	}
	return nil
}

// tarMode converts Go's file mode into the Unix mode bits tar stores.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}
