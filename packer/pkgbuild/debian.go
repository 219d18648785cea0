package pkgbuild

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/keel-os/keel/packer/image"
)

// debInfo is what apt's lists say about the candidate version of a
// package.
type debInfo struct {
	Package, Version, Arch, SHA256 string
	// Relation fields, as written in the control file.
	Depends, PreDepends, Provides string
}

// String is the identity that goes into a package tag.
func (d debInfo) String() string {
	return d.Package + "=" + d.Version + " " + d.Arch + " sha256:" + d.SHA256
}

// FileName is apt's name for the downloaded .deb (an epoch's ':' is
// escaped as "%3a").
func (d debInfo) FileName() string {
	return fmt.Sprintf("%s_%s_%s.deb", d.Package, strings.ReplaceAll(d.Version, ":", "%3a"), d.Arch)
}

// aptShow returns the candidate version of pkg for arch from the local apt
// lists: the arch package, or an Architecture: all one of that name.
func aptShow(ctx context.Context, pkg, arch string) (debInfo, error) {
	if _, err := exec.LookPath("apt-cache"); err != nil {
		return debInfo{}, fmt.Errorf("debian package %q: apt-cache is not installed (Debian packages are resolved with the host's apt)", pkg)
	}
	show := func(name string) (debInfo, string, error) {
		cmd := exec.CommandContext(ctx, "apt-cache", "show", "--no-all-versions", name)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return parseStanza(stdout.String()), strings.TrimSpace(stdout.String() + " " + stderr.String()), err
	}
	info, msg, err := show(pkg + ":" + arch)
	if err == nil && info.Package == "" {
		// apt knows Architecture: all packages by their bare name only.
		if info, msg, err = show(pkg); info.Arch != "all" {
			info = debInfo{}
		}
	}
	if err != nil || info.Package == "" {
		hint := ""
		if arch != hostArch() {
			hint = fmt.Sprintf("; for %s packages apt needs the architecture: run 'dpkg --add-architecture %s && apt-get update' (scripts/ensure-deps.sh does)", arch, arch)
		}
		return debInfo{}, fmt.Errorf("debian package %q not found for %s in apt's package lists: check the name, or run 'apt-get update' if the lists are stale%s (%s)",
			pkg, arch, hint, msg)
	}
	if info.Version == "" || info.Arch == "" || info.SHA256 == "" {
		return debInfo{}, fmt.Errorf("debian package %q: apt-cache show gave no Version, Architecture or SHA256", pkg)
	}
	return info, nil
}

// parseStanza reads the first control stanza.
func parseStanza(s string) debInfo {
	if all := parseStanzas(s); len(all) > 0 {
		return all[0]
	}
	return debInfo{}
}

// parseStanzas reads every control stanza of apt-cache show's output, in
// order.
func parseStanzas(s string) []debInfo {
	var all []debInfo
	var d debInfo
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if d.Package != "" {
				all = append(all, d)
			}
			d = debInfo{}
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.HasPrefix(line, " ") {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			d.Package = v
		case "Version":
			d.Version = v
		case "Architecture":
			d.Arch = v
		case "SHA256":
			d.SHA256 = v
		case "Depends":
			d.Depends = v
		case "Pre-Depends":
			d.PreDepends = v
		case "Provides":
			d.Provides = v
		}
	}
	if d.Package != "" {
		all = append(all, d)
	}
	return all
}

// resolveKernel follows a meta package such as linux-image-cloud-amd64 to
// the concrete linux-image-<version>-... package it depends on. A concrete
// kernel package resolves to itself.
func resolveKernel(ctx context.Context, pkg, arch string) (debInfo, error) {
	info, err := aptShow(ctx, pkg, arch)
	if err != nil {
		return debInfo{}, err
	}
	for _, dep := range strings.Split(info.Depends, ",") {
		name := strings.Fields(strings.TrimSpace(strings.Split(dep, "|")[0]))
		if len(name) > 0 && strings.HasPrefix(name[0], "linux-image-") {
			return aptShow(ctx, stripArch(name[0]), arch)
		}
	}
	return info, nil
}

// fetchDeb returns the path of d's .deb in cacheDir, downloading it with
// apt-get when it is not there yet. A cached file is used only if its
// checksum matches apt's lists.
func fetchDeb(ctx context.Context, cacheDir string, d debInfo, progress io.Writer) (string, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("creating the Debian package cache: %w", err)
	}
	file := filepath.Join(cacheDir, d.FileName())
	if sum, err := sha256File(file); err == nil && sum == d.SHA256 {
		return file, nil
	}
	// The Architecture: all ones have no qualified name.
	name := d.Package
	if d.Arch != "all" {
		name += ":" + d.Arch
	}
	fmt.Fprintf(progress, "  apt-get download %s=%s\n", name, d.Version)
	cmd := exec.CommandContext(ctx, "apt-get", "download", "-q", name+"="+d.Version)
	cmd.Dir = cacheDir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("downloading debian package %s=%s failed (is the network up? if apt no longer has this version, "+
			"run keel pkg build --update-lock to move the package's %s to the current one):\n%s", d.Package, d.Version, LockFile, strings.TrimSpace(string(out)))
	}
	sum, err := sha256File(file)
	if err != nil {
		return "", fmt.Errorf("apt-get download %s: %w", d.Package, err)
	}
	if sum != d.SHA256 {
		os.Remove(file) //nolint:errcheck // it is wrong either way
		return "", fmt.Errorf("downloaded %s has sha256 %s, apt's lists say %s", file, sum, d.SHA256)
	}
	return file, nil
}

// addDeb adds the files of a .deb to tree. It reads the package's data
// archive through dpkg-deb and takes modes from the archive itself, so the
// result depends neither on the user running the build nor on the umask.
// No maintainer scripts run; nothing is installed on the host. Regular
// file contents are staged under tmp.
func addDeb(ctx context.Context, tree *image.Tree, deb, tmp string) error {
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	return readDebData(ctx, deb, func(tr *tar.Reader) error { return addDebEntries(tree, tr, deb, tmp) })
}

// readDebData runs read over deb's data archive, which dpkg-deb streams
// (so any compression dpkg knows works), and reports dpkg-deb's own
// failure when read did not fail first.
func readDebData(ctx context.Context, deb string, read func(*tar.Reader) error) (err error) {
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running dpkg-deb: %w", err)
	}
	defer func() {
		io.Copy(io.Discard, out) //nolint:errcheck // let dpkg-deb finish
		if werr := cmd.Wait(); werr != nil && err == nil {
			err = fmt.Errorf("reading %s with dpkg-deb: %w: %s", deb, werr, strings.TrimSpace(stderr.String()))
		}
	}()
	return read(tar.NewReader(out))
}

func addDebEntries(tree *image.Tree, tr *tar.Reader, deb, tmp string) error {
	staged := map[string]string{} // image path -> staged file, for hard links
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the data archive of %s: %w", deb, err)
		}
		p := path.Clean("/" + hdr.Name)
		if p == "/" {
			continue
		}
		mode := hdr.FileInfo().Mode()
		switch hdr.Typeflag {
		case tar.TypeDir:
			err = tree.AddDir(p, mode)
		case tar.TypeReg:
			src := filepath.Join(tmp, strconv.Itoa(n))
			if err := stage(src, tr); err != nil {
				return fmt.Errorf("unpacking %s from %s: %w", p, deb, err)
			}
			staged[p] = src
			err = tree.AddFile(p, mode, src)
		case tar.TypeLink:
			src, ok := staged[path.Clean("/"+hdr.Linkname)]
			if !ok {
				return fmt.Errorf("%s: hard link %s points to %s, which is not an earlier file", deb, p, hdr.Linkname)
			}
			err = tree.AddFile(p, mode, src)
		case tar.TypeSymlink:
			err = tree.AddSymlink(p, hdr.Linkname)
		default:
			return fmt.Errorf("%s: %s has a file type (%c) an image layer cannot hold here", deb, p, hdr.Typeflag)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", deb, err)
		}
	}
}

func stage(dst string, r io.Reader) error {
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func sha256File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
