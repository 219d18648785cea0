// Package kmod indexes kernel modules on the host and loads them in the VM.
//
// The host side (WriteIndex) reads each module's ELF .modinfo section and
// writes modules.dep and modules.alias in depmod's text format, so a kernel
// package that ships no index still boots with dependency-ordered loading and
// modalias coldplug. The VM side (Loader) reads that index and loads modules
// with finit_module, dependencies first.
package kmod

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Modinfo is what Keel uses from a module's .modinfo section.
type Modinfo struct {
	// Name is the module name (name= or, failing that, the file name), with
	// '-' replaced by '_' as the kernel spells it.
	Name string
	// Depends are the names of the modules this one needs, in .modinfo order.
	Depends []string
	// Aliases are the alias= patterns, in .modinfo order.
	Aliases []string
}

// moduleExts are the file suffixes of loadable modules, uncompressed first.
var moduleExts = []string{".ko", ".ko.gz", ".ko.zst", ".ko.xz"}

// isModuleFile reports whether name looks like a kernel module file.
func isModuleFile(name string) bool {
	for _, ext := range moduleExts {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// NameFromPath turns a module file path into the module name the kernel
// uses: "kernel/drivers/net/virtio-net.ko.zst" -> "virtio_net".
func NameFromPath(p string) string {
	base := filepath.Base(p)
	for _, ext := range []string{".gz", ".zst", ".xz"} {
		base = strings.TrimSuffix(base, ext)
	}
	base = strings.TrimSuffix(base, ".ko")
	return Normalize(base)
}

// Normalize makes '-' and '_' equivalent in module names, as the kernel does.
func Normalize(name string) string {
	return strings.ReplaceAll(name, "-", "_")
}

// readModuleFile returns the ELF image of a module file, decompressing gzip
// and zstd modules. xz modules are refused with an error saying so.
func readModuleFile(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	switch {
	case strings.HasSuffix(p, ".ko"):
	case strings.HasSuffix(p, ".gz"):
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("read gzip module %s: %w", p, err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(p, ".zst"):
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("read zstd module %s: %w", p, err)
		}
		defer zr.Close()
		r = zr
	case strings.HasSuffix(p, ".xz"):
		return nil, fmt.Errorf("module %s is xz-compressed, which Keel does not read: decompress it (unxz) or recompress it with zstd", p)
	default:
		return nil, fmt.Errorf("%s is not a kernel module (want .ko, .ko.gz or .ko.zst)", p)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read module %s: %w", p, err)
	}
	return data, nil
}

// ReadModinfo reads the .modinfo section of the module file at p.
func ReadModinfo(p string) (Modinfo, error) {
	data, err := readModuleFile(p)
	if err != nil {
		return Modinfo{}, err
	}
	mi, err := ParseModinfo(data)
	if err != nil {
		return Modinfo{}, fmt.Errorf("module %s: %w", p, err)
	}
	if mi.Name == "" {
		mi.Name = NameFromPath(p)
	}
	return mi, nil
}

// ParseModinfo reads the .modinfo section of an ELF module image. Name is
// left empty when the section has no name= field.
func ParseModinfo(image []byte) (Modinfo, error) {
	ef, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		return Modinfo{}, fmt.Errorf("not an ELF file: %w", err)
	}
	defer ef.Close()
	sec := ef.Section(".modinfo")
	if sec == nil {
		return Modinfo{}, fmt.Errorf("no .modinfo section: not a kernel module")
	}
	raw, err := sec.Data()
	if err != nil {
		return Modinfo{}, fmt.Errorf("read .modinfo section: %w", err)
	}
	var mi Modinfo
	for _, field := range bytes.Split(raw, []byte{0}) {
		key, value, ok := strings.Cut(string(field), "=")
		if !ok {
			continue // padding between fields
		}
		switch key {
		case "name":
			mi.Name = Normalize(value)
		case "alias":
			mi.Aliases = append(mi.Aliases, value)
		case "depends":
			for _, d := range strings.Split(value, ",") {
				if d = strings.TrimSpace(d); d != "" {
					mi.Depends = append(mi.Depends, Normalize(d))
				}
			}
		}
	}
	return mi, nil
}

// IsModuleFile reports whether a file name is a kernel module's (.ko,
// possibly compressed).
func IsModuleFile(name string) bool { return isModuleFile(name) }
