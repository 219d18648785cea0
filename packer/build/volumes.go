package build

import (
	"archive/tar"
	"fmt"
	"strings"

	klayout "github.com/keel-os/keel/internal/layout"
	"github.com/keel-os/keel/packer/rootfs"
	"github.com/keel-os/keel/packer/spec"
)

// volumeParts makes one part per volume of s: the directory
// klayout.VolumeDir(NAME) holding the volume's content in its merged/
// folder (empty for a blank volume, the image's flattened filesystem for
// an image volume, the image as an OCI layout for `format: oci`) and, for a read-only volume, the klayout.VolumeReadOnly
// marker that tells init to make merged/ read-only at boot.
//
// Unlike LinuxKit, which overlays a tmpfs on a lower/ copy at boot, Keel
// writes the content straight into merged/: the whole root already lives
// in RAM (or under a tmpfs overlay for a squashfs root) and /containers
// stays writable when init makes the root read-only, so a read-write
// volume needs nothing more, and an image volume is stored once.
func volumeParts(fl *flattener, cache archCache, s *spec.Spec, known []string) ([]part, error) {
	var parts []part
	for i, vol := range s.Volumes {
		if vol == nil {
			continue
		}
		dir := strings.TrimPrefix(klayout.VolumeDir(vol.Name), "/")
		p := part{
			What: "volume " + vol.Name,
			// The layout version changes whenever the bytes written for the
			// same volume change.
			inputs: []string{"volume layout 2", dir, fmt.Sprint(vol.ReadOnly)},
			sys: &rootfs.System{Known: known, Dirs: []rootfs.Entry{
				{Hdr: tar.Header{Name: strings.TrimPrefix(klayout.VolumesDir, "/"), Typeflag: tar.TypeDir, Mode: 0o755}},
				{Hdr: tar.Header{Name: dir, Typeflag: tar.TypeDir, Mode: 0o755}},
				{Hdr: tar.Header{Name: dir + "/merged", Typeflag: tar.TypeDir, Mode: 0o755}},
			}},
		}
		if vol.ReadOnly {
			p.sys.Dirs = append(p.sys.Dirs, rootfs.Entry{
				Hdr: tar.Header{Name: dir + "/" + klayout.VolumeReadOnly, Typeflag: tar.TypeDir, Mode: 0o555},
			})
		}
		if vol.Image != "" {
			where := fmt.Sprintf("volumes[%d] %q", i, vol.Name)
			if vol.Format == spec.VolumeFormatOCI {
				if err := checkPlatforms(vol.Platforms, cache.arch); err != nil {
					return nil, fmt.Errorf("%s: %w", where, err)
				}
			}
			img, err := cache.Get(vol.Image)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
			d, err := img.Digest()
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", where, vol.Image, err)
			}
			p.inputs = append(p.inputs, d.String(), vol.Format, vol.Image)
			open := ociLayoutOpener(img, vol.Image)
			if vol.Format != spec.VolumeFormatOCI {
				fl.count(img)
				open = fl.opener(img)
			}
			p.sys.Layers = []rootfs.Layer{{
				What:   fmt.Sprintf("%s image %s", where, vol.Image),
				Prefix: dir + "/merged",
				Open:   open,
			}}
		}
		parts = append(parts, p)
	}
	return parts, nil
}

// checkPlatforms accepts the platforms of a `format: oci` volume that Keel
// builds: the system's own architecture (the layout holds the image pulled
// for it), written as LinuxKit does ("linux/amd64", "linux/arm64/v8").
func checkPlatforms(platforms []string, arch string) error {
	for _, p := range platforms {
		parts := strings.Split(p, "/")
		if len(parts) < 2 || parts[0] != "linux" || parts[1] != arch {
			return fmt.Errorf("platform %q: Keel puts only the image of the system's platform (linux/%s) in an OCI layout volume yet: drop the other platforms", p, arch)
		}
	}
	return nil
}
