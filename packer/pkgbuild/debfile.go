package pkgbuild

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/keel-os/keel/internal/atomicfile"
)

// DebFile returns a host path holding the file member (an absolute path
// inside the package, e.g. /usr/lib/systemd/boot/efi/linuxaa64.efi.stub)
// of apt's candidate version of the Debian package pkg for arch. The .deb
// is downloaded into debCache and checked against apt's lists like a
// package build's; the file is extracted beside it, named by the package's
// version, so it is read from the .deb once per version. Nothing is
// installed on the host, which is what lets a file of another
// architecture's package be used (systemd-boot-efi:arm64 cannot be
// installed next to the amd64 one).
func DebFile(ctx context.Context, debCache, pkg, arch, member string) (string, error) {
	info, err := aptShow(ctx, pkg, arch)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(debCache, "files", strings.TrimSuffix(info.FileName(), ".deb"))
	dst := filepath.Join(dir, path.Base(member))
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	deb, err := fetchDeb(ctx, debCache, info, io.Discard)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := extractDebFile(ctx, deb, member, dst); err != nil {
		return "", err
	}
	return dst, nil
}

// extractDebFile copies member out of deb's data archive to dst, through
// a temporary name so an interrupted extraction leaves nothing at dst.
func extractDebFile(ctx context.Context, deb, member, dst string) error {
	return readDebData(ctx, deb, func(tr *tar.Reader) error { return extractEntry(tr, deb, member, dst) })
}

func extractEntry(tr *tar.Reader, deb, member, dst string) error {
	want := path.Clean("/" + member)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s has no file %s", filepath.Base(deb), want)
		}
		if err != nil {
			return fmt.Errorf("reading the data archive of %s: %w", deb, err)
		}
		if path.Clean("/"+hdr.Name) != want {
			continue
		}
		if hdr.Typeflag != tar.TypeReg {
			return fmt.Errorf("%s in %s is not a regular file", want, filepath.Base(deb))
		}
		err = atomicfile.Write(dst, 0o644, func(w io.Writer) error {
			_, err := io.Copy(w, tr)
			return err
		})
		if err != nil {
			return fmt.Errorf("extracting %s from %s: %w", want, deb, err)
		}
		return nil
	}
}
