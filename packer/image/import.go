package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// containerdNameAnnotation is where containerd and Docker 25+ put an
// image's full name in an OCI layout; ref.name then holds only the tag.
const containerdNameAnnotation = "io.containerd.image.name"

// Import copies images from src into the cache and returns the references
// they were stored under. src is one of:
//
//   - an OCI image layout directory (including a LinuxKit cache);
//   - an OCI archive: a tar of such a directory (`docker save` from
//     Docker 25 on, `skopeo copy oci-archive:`, `buildah push`);
//   - a `docker save` archive (manifest.json with RepoTags).
//
// Each image keeps the name its source gives it. as, when set, names the
// image instead; it is only allowed when src holds exactly one image.
// Layouts and archives may hold a multi-platform index: the linux/amd64
// image is stored. Every blob is verified against its digest.
func (c *Cache) Import(src, as string) ([]string, error) {
	st, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("importing images: %w", err)
	}
	var found []named
	if st.IsDir() {
		found, err = fromLayout(src)
	} else {
		var cleanup func()
		found, cleanup, err = fromArchive(src)
		defer cleanup()
	}
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", src, err)
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("importing %s: it holds no images", src)
	}
	if as != "" {
		if len(found) != 1 {
			return nil, fmt.Errorf("importing %s: it holds %d images, so a single name cannot be given to them", src, len(found))
		}
		found[0].ref = as
	}
	var refs []string
	for _, f := range found {
		if f.ref == "" {
			return nil, fmt.Errorf("importing %s: an image has no name (digest %s): give it one with --name", src, f.digest)
		}
		norm, err := Normalize(f.ref)
		if err != nil {
			return nil, fmt.Errorf("importing %s: %w", src, err)
		}
		img, err := f.open()
		if err != nil {
			return nil, fmt.Errorf("importing %s from %s: %w", norm, src, err)
		}
		if err := c.Put(norm, img); err != nil {
			return nil, fmt.Errorf("importing %s from %s: %w", norm, src, err)
		}
		refs = append(refs, norm)
	}
	return refs, nil
}

// named is one image found in an import source, opened lazily.
type named struct {
	ref    string
	digest string
	open   func() (v1.Image, error)
}

func fromLayout(dir string) ([]named, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("not an OCI image layout (no index.json): %w", err)
	}
	ii, err := p.ImageIndex()
	if err != nil {
		return nil, err
	}
	m, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []named
	for _, d := range m.Manifests {
		d := d
		ref := layoutName(d.Annotations)
		switch {
		case d.MediaType.IsImage():
			out = append(out, named{ref: ref, digest: d.Digest.String(), open: func() (v1.Image, error) { return ii.Image(d.Digest) }})
		case d.MediaType.IsIndex():
			out = append(out, named{ref: ref, digest: d.Digest.String(), open: func() (v1.Image, error) {
				child, err := ii.ImageIndex(d.Digest)
				if err != nil {
					return nil, err
				}
				return platformImage(child, d.Digest.String(), Architecture)
			}})
		}
	}
	return out, nil
}

// layoutName picks the full image name from a layout's descriptor
// annotations. A bare tag in ref.name (as Docker writes it) is no name.
func layoutName(a map[string]string) string {
	if n := a[containerdNameAnnotation]; n != "" {
		return n
	}
	// A tag has neither "/" nor ":"; a name (LinuxKit's cache) has one.
	if n := a[RefNameAnnotation]; strings.ContainsAny(n, "/:") {
		return n
	}
	return ""
}

// fromArchive reads a docker or OCI archive. The images are opened lazily,
// so the returned cleanup must run only after they have been stored.
func fromArchive(file string) ([]named, func(), error) {
	nothing := func() {}
	members, err := tarMembers(file)
	if err != nil {
		return nil, nothing, err
	}
	if members["manifest.json"] {
		found, err := fromDockerArchive(file)
		return found, nothing, err
	}
	if members["index.json"] && members["oci-layout"] {
		// Unpacking keeps one layout reader for directories and archives.
		dir, err := os.MkdirTemp("", "keel-import-*")
		if err != nil {
			return nil, nothing, err
		}
		cleanup := func() { os.RemoveAll(dir) }
		if err := extractTar(file, dir); err != nil {
			return nil, cleanup, err
		}
		found, err := fromLayout(dir)
		return found, cleanup, err
	}
	return nil, nothing, errors.New("not an image archive: it has neither manifest.json (docker save) nor index.json and oci-layout (OCI archive)")
}

func fromDockerArchive(file string) ([]named, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(file) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("reading manifest.json: %w", err)
	}
	var out []named
	for _, d := range m {
		if len(d.RepoTags) == 0 {
			out = append(out, named{digest: d.Config, open: func() (v1.Image, error) {
				return nil, errors.New("untagged image")
			}})
			continue
		}
		for _, t := range d.RepoTags {
			tag, err := name.NewTag(t)
			if err != nil {
				return nil, fmt.Errorf("manifest.json names %q: %w", t, err)
			}
			out = append(out, named{ref: t, digest: d.Config, open: func() (v1.Image, error) {
				return tarball.Image(opener, &tag)
			}})
		}
	}
	if len(m) == 1 && len(m[0].RepoTags) == 0 {
		// A single untagged image can still be imported with --name.
		out[0].open = func() (v1.Image, error) { return tarball.Image(opener, nil) }
	}
	return out, nil
}

// tarMembers lists the top-level regular files of a tar archive.
func tarMembers(file string) (map[string]bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	out := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("not a tar archive: %w", err)
		}
		out[path.Clean(strings.TrimPrefix(h.Name, "./"))] = true
	}
}

// extractTar unpacks the regular files and directories of an OCI archive
// into dir, refusing names that leave it.
func extractTar(file, dir string) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		rel := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if rel == "." {
			continue
		}
		if !filepath.IsLocal(rel) {
			return fmt.Errorf("archive entry %q leaves the archive", h.Name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(rel))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("archive entry %q: unexpected type %q in an OCI archive", h.Name, h.Typeflag)
		}
	}
}
