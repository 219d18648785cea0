package build

import (
	"archive/tar"
	"bytes"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/keel-os/keel/internal/atomicfile"
	"github.com/keel-os/keel/packer/rootfs"
	"github.com/keel-os/keel/packer/sbom"
	"github.com/keel-os/keel/packer/spec"
)

// DefaultSBOMOutput is where the system's SBOM goes in the image (LinuxKit's
// default for --sbom-output).
const DefaultSBOMOutput = "sbom.spdx.json"

// systemSBOM merges the SBOMs of every image of s into one document: an
// image without one (a pulled image) is listed by its reference and
// digest. Packages and files several images share are listed once.
func systemSBOM(s *spec.Spec, cache archCache, name string, created time.Time) ([]byte, error) {
	b := sbom.New(name, "")
	seen := map[string]bool{}
	for _, ref := range s.ImageRefs() {
		if seen[ref] {
			continue
		}
		seen[ref] = true
		img, err := cache.Get(ref)
		if err != nil {
			return nil, fmt.Errorf("SBOM: %w", err)
		}
		d, err := img.Digest()
		if err != nil {
			return nil, fmt.Errorf("SBOM: %s: %w", ref, err)
		}
		raw, ok, err := cache.c.Referrer(d, sbom.MediaType)
		if err != nil {
			return nil, fmt.Errorf("SBOM of %s: %w", ref, err)
		}
		if !ok {
			b.AddImage(ref, d.String())
			continue
		}
		doc, err := sbom.Parse(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("SBOM of %s: %w (rebuild the package, or pass --no-sbom)", ref, err)
		}
		b.Include(doc)
	}
	doc, err := b.Document(created)
	if err != nil {
		return nil, err
	}
	return sbom.Marshal(doc)
}

// addSBOM puts the system's SBOM into the part of the spec's files (not
// cached, so the per-container parts stay as they are) and, when asked,
// writes a copy on the host.
func addSBOM(opt Options, s *spec.Spec, cache archCache, l *layout) error {
	if opt.NoSBOM {
		return nil
	}
	name := opt.Name
	if name == "" {
		name = "system"
	}
	created := sbom.FixedTime
	if opt.SBOMCurrentTime {
		created = time.Now()
	}
	body, err := systemSBOM(s, cache, name, created)
	if err != nil {
		return err
	}
	where := strings.TrimLeft(path.Clean("/"+opt.SBOMOutput), "/")
	if opt.SBOMOutput == "" {
		where = DefaultSBOMOutput
	}
	if where == "" {
		return fmt.Errorf("--sbom-output %q names no file: give a file name such as %s", opt.SBOMOutput, DefaultSBOMOutput)
	}
	e := rootfs.Entry{Hdr: tar.Header{Name: where, Typeflag: tar.TypeReg, Mode: 0o644}, Body: body}
	// The spec's own files come after, so one of them at the same path wins.
	if n := len(l.parts); n > 0 && l.parts[n-1].What == "files" && l.parts[n-1].inputs == nil {
		l.parts[n-1].sys.Files = append([]rootfs.Entry{e}, l.parts[n-1].sys.Files...)
	} else {
		l.parts = append(l.parts, part{What: "files", sys: &rootfs.System{Files: []rootfs.Entry{e}, Known: baseDirNames()}})
	}
	if opt.SBOMCopy != "" {
		if err := atomicfile.WriteFile(opt.SBOMCopy, body, 0o644); err != nil {
			return fmt.Errorf("writing the SBOM to %s: %w", opt.SBOMCopy, err)
		}
	}
	return nil
}
