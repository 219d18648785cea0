// Package kernel turns a Debian linux-image package into a kernel image in
// LinuxKit's layout: /kernel (the bzImage), /kernel.tar (lib/modules/<ver>
// with its dependency index), and, when the package has them, /System.map
// and /config.
package kernel

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-os/keel/internal/kmod"
	"github.com/keel-os/keel/packer/image"
)

// VersionLabel is the image config label holding the kernel version, so
// readers need not open kernel.tar to learn it.
const VersionLabel = "org.keel.kernel.version"

// Paths of the kernel image's files.
const (
	KernelPath    = "/kernel"
	ModulesPath   = "/kernel.tar"
	SystemMapPath = "/System.map"
	ConfigPath    = "/config"
)

// FromDeb unpacks a Debian linux-image .deb (files only, with dpkg-deb) and
// returns the kernel image for arch (the package's architecture) and the
// kernel version.
func FromDeb(debPath, arch string) (v1.Image, string, error) {
	tmp, err := os.MkdirTemp("", "keel-kernel-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(tmp)
	if out, err := exec.Command("dpkg-deb", "-x", debPath, tmp).CombinedOutput(); err != nil {
		return nil, "", fmt.Errorf("unpacking kernel package %s with dpkg-deb: %w: %s", debPath, err, strings.TrimSpace(string(out)))
	}
	img, version, err := fromDir(tmp, arch)
	if err != nil {
		return nil, "", fmt.Errorf("kernel package %s: %w", filepath.Base(debPath), err)
	}
	return img, version, nil
}

// fromDir builds the image from an unpacked kernel package rooted at root.
// It writes the module index into root's modules directory.
func fromDir(root, arch string) (v1.Image, string, error) {
	vmlinuz, version, err := findKernel(root)
	if err != nil {
		return nil, "", err
	}
	modules, err := findModules(root, version)
	if err != nil {
		return nil, "", err
	}
	if err := kmod.WriteIndex(modules); err != nil {
		return nil, "", fmt.Errorf("indexing kernel modules: %w", err)
	}

	modTree := image.NewTree()
	if err := modTree.AddDirTree("/lib/modules/"+version, modules); err != nil {
		return nil, "", fmt.Errorf("collecting kernel modules: %w", err)
	}
	tarPath := filepath.Join(root, "kernel.tar")
	if err := writeTarFile(modTree, tarPath); err != nil {
		return nil, "", err
	}

	tree := image.NewTree()
	if err := tree.AddFile(KernelPath, 0o644, vmlinuz); err != nil {
		return nil, "", err
	}
	if err := tree.AddFile(ModulesPath, 0o644, tarPath); err != nil {
		return nil, "", err
	}
	for dst, src := range map[string]string{
		SystemMapPath: filepath.Join(root, "boot", "System.map-"+version),
		ConfigPath:    filepath.Join(root, "boot", "config-"+version),
	} {
		if st, err := os.Stat(src); err == nil && st.Mode().IsRegular() {
			if err := tree.AddFile(dst, 0o644, src); err != nil {
				return nil, "", err
			}
		}
	}
	img, err := image.NewImageArch(tree, v1.Config{Labels: map[string]string{VersionLabel: version}}, arch)
	if err != nil {
		return nil, "", fmt.Errorf("building the kernel image: %w", err)
	}
	return img, version, nil
}

// findKernel returns boot/vmlinuz-<version> and the version. A kernel
// package holds exactly one.
func findKernel(root string) (string, string, error) {
	matches, err := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if err != nil {
		return "", "", err
	}
	switch len(matches) {
	case 0:
		return "", "", errors.New("no boot/vmlinuz-<version> in the package: is it a linux-image package?")
	case 1:
		return matches[0], strings.TrimPrefix(filepath.Base(matches[0]), "vmlinuz-"), nil
	default:
		return "", "", fmt.Errorf("several kernels in one package: %s", strings.Join(matches, ", "))
	}
}

// findModules returns lib/modules/<version>, also under usr/ for
// merged-/usr packages.
func findModules(root, version string) (string, error) {
	for _, dir := range []string{"lib/modules", "usr/lib/modules"} {
		p := filepath.Join(root, dir, version)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("no lib/modules/%s in the package", version)
}

func writeTarFile(t *image.Tree, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := t.WriteTar(f); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
