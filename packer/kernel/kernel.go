// Package kernel turns a Debian linux-image package into a kernel image in
// LinuxKit's layout: /kernel (the bzImage), /kernel.tar (lib/modules/<ver>
// with its dependency index), and, when the package has them, /System.map
// and /config. A kernel for physical machines may carry firmware in
// kernel.tar too (lib/firmware), and recommend keeping every module.
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

// ModulesLabel is the image config label through which a kernel image
// recommends a module choice to specs that make none: ModulesAll keeps
// every module (keel build's default set is for virtual machines and
// clouds; a physical machine's NICs and controllers are anyone's guess).
const ModulesLabel = "org.keel.kernel.modules"

// ModulesAll is ModulesLabel's value that keeps every module.
const ModulesAll = "all"

// Options are what a kernel image carries beyond the kernel package.
type Options struct {
	// Firmware are .deb files whose lib/firmware (or usr/lib/firmware)
	// files join kernel.tar under lib/firmware; their other files are
	// left out.
	Firmware []string
	// Modules, when not empty, is written as ModulesLabel.
	Modules string
}

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
func FromDeb(debPath, arch string, opt Options) (v1.Image, string, error) {
	tmp, err := os.MkdirTemp("", "keel-kernel-")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "kernel")
	if err := unpackDeb(debPath, root); err != nil {
		return nil, "", err
	}
	var fwDirs []string
	for i, deb := range opt.Firmware {
		dir := filepath.Join(tmp, "firmware", fmt.Sprint(i))
		if err := unpackDeb(deb, dir); err != nil {
			return nil, "", err
		}
		found := false
		for _, sub := range []string{"lib/firmware", "usr/lib/firmware"} {
			p := filepath.Join(dir, sub)
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				fwDirs, found = append(fwDirs, p), true
			}
		}
		if !found {
			return nil, "", fmt.Errorf("firmware package %s has no lib/firmware: list only firmware packages under debian: of a kernel package", filepath.Base(deb))
		}
	}
	img, version, err := fromDir(root, arch, fwDirs, opt.Modules)
	if err != nil {
		return nil, "", fmt.Errorf("kernel package %s: %w", filepath.Base(debPath), err)
	}
	return img, version, nil
}

func unpackDeb(deb, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
		return fmt.Errorf("unpacking %s with dpkg-deb: %w: %s", deb, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// fromDir builds the image from an unpacked kernel package rooted at root,
// with the firmware directories' files under lib/firmware in kernel.tar
// (a later directory's file replaces an earlier one's) and choice, when
// set, as ModulesLabel. It writes the module index into root's modules
// directory.
func fromDir(root, arch string, firmware []string, choice string) (v1.Image, string, error) {
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
	for _, dir := range firmware {
		if err := modTree.AddDirTree("/lib/firmware", dir); err != nil {
			return nil, "", fmt.Errorf("collecting firmware: %w", err)
		}
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
	labels := map[string]string{VersionLabel: version}
	if choice != "" {
		labels[ModulesLabel] = choice
	}
	img, err := image.NewImageArch(tree, v1.Config{Labels: labels}, arch)
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
