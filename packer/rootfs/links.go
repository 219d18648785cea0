package rootfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
)

// PAXLinkCount is the PAX record through which Write tells the writer how
// many names a hard-linked file has (newc can carry the count on every
// name, the first included, before the data is written).
const PAXLinkCount = "KEEL.nlink"

// Hard links. Write sends each hard-linked file of a layer as one group of
// consecutive entries, whatever the order of the layer's tar stream:
//
//   - the file itself: Typeflag tar.TypeReg, its body and Size, and
//     PAXRecords[PAXLinkCount] = the number of names N (N >= 2);
//   - then N-1 entries with Typeflag tar.TypeLink, Name the other name,
//     Linkname the file's Name (same form: relative to the image root,
//     no leading "/"), Size 0, the file's Mode/Uid/Gid, and the same
//     PAXRecords[PAXLinkCount].
//
// So a link always follows its target, and a newc writer can give the
// group one inode number. A Writer that cannot store hard links opts out
// by implementing HardLinkWriter with HardLinks returning false: it then
// gets each extra name as a symlink to the first.

// HardLinkWriter lets a Writer say whether it stores hard links.
type HardLinkWriter interface {
	Writer
	HardLinks() bool
}

func wantsHardLinks(w Writer) bool {
	hw, ok := w.(HardLinkWriter)
	return !ok || hw.HardLinks()
}

// linkPlan is what the first pass over a layer learned about its hard
// links: for each target (by clean name), the other names, in stream
// order; and the set of link names (emitted with their target instead
// of in place).
type linkPlan struct {
	names   map[string][]string
	isLink  map[string]bool
	regular map[string]bool
}

// spool copies the layer's tar stream to an unlinked temporary file while
// reading its headers, so that the hard links are known before the first
// entry is written, without unpacking the layer twice.
func spool(l Layer) (*os.File, *linkPlan, error) {
	rc, err := l.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s: %w", l.What, err)
	}
	defer rc.Close()
	f, err := os.CreateTemp("", "keel-layer-*")
	if err != nil {
		return nil, nil, fmt.Errorf("spooling %s: %w", l.What, err)
	}
	os.Remove(f.Name()) // the open descriptor keeps the data
	plan := &linkPlan{names: map[string][]string{}, isLink: map[string]bool{}, regular: map[string]bool{}}
	links := map[string]string{} // link name -> target, both clean
	var order []string
	tr := tar.NewReader(io.TeeReader(rc, f))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("reading %s: %w", l.What, err)
		}
		n, err := clean(h.Name)
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("%s: %w", l.What, err)
		}
		if n == "" {
			continue // the layer's own root: never a file or a link (Write skips it too)
		}
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			plan.regular[n] = true
		case tar.TypeLink:
			target, err := clean(h.Linkname)
			if err != nil {
				f.Close()
				return nil, nil, fmt.Errorf("%s: hard link %s: %w", l.What, n, err)
			}
			links[n] = target
			order = append(order, n)
		}
	}
	// Drain what tar did not need (end-of-archive padding), so the copy is
	// a complete stream.
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("reading %s: %w", l.What, err)
	}
	for _, n := range order {
		// A link may name another link: follow to the file.
		target, seen := links[n], 0
		for {
			next, ok := links[target]
			if !ok {
				break
			}
			if seen++; seen > len(links) {
				f.Close()
				return nil, nil, fmt.Errorf("%s: hard link %s: the links form a loop", l.What, n)
			}
			target = next
		}
		if !plan.regular[target] {
			f.Close()
			return nil, nil, fmt.Errorf("%s: hard link %s points to %s, which is not a regular file of this layer", l.What, n, target)
		}
		plan.names[target] = append(plan.names[target], n)
		plan.isLink[n] = true
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, plan, nil
}

// linkGroup writes the extra names of a hard-linked file h (already
// written, with its prefixed name) right after it.
func (s *stream) linkGroup(l Layer, h *tar.Header, names []string) error {
	for _, n := range names {
		lh := &tar.Header{
			Name:       path.Join(l.Prefix, n),
			Typeflag:   tar.TypeLink,
			Linkname:   h.Name,
			Mode:       h.Mode,
			Uid:        h.Uid,
			Gid:        h.Gid,
			ModTime:    h.ModTime,
			PAXRecords: h.PAXRecords,
		}
		if err := s.write(lh, nil); err != nil {
			return fmt.Errorf("%s: %w", l.What, err)
		}
	}
	return nil
}

func linkCount(names []string) map[string]string {
	return map[string]string{PAXLinkCount: strconv.Itoa(len(names) + 1)}
}
