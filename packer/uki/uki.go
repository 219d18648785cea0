// Package uki builds unified kernel images: systemd's EFI stub with the
// kernel, initrd, command line and os-release appended as PE sections, so
// one EFI binary boots the whole system.
package uki

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// StubDir is where Debian's systemd-boot-efi package keeps its stubs.
const StubDir = "/usr/lib/systemd/boot/efi"

// DefaultStub is the amd64 stub from Debian's systemd-boot-efi package.
const DefaultStub = StubDir + "/linuxx64.efi.stub"

// machines maps the PE machine types of the stubs Keel builds with to
// their architectures, and stubNames the architectures to systemd's stub
// file names.
var (
	machines  = map[uint16]string{pe.IMAGE_FILE_MACHINE_AMD64: "amd64", pe.IMAGE_FILE_MACHINE_ARM64: "arm64"}
	stubNames = map[string]string{"amd64": "linuxx64.efi.stub", "arm64": "linuxaa64.efi.stub"}
)

// StubPath returns where systemd-boot-efi (of arch's Debian architecture)
// has arch's stub.
func StubPath(arch string) (string, error) {
	name, ok := stubNames[arch]
	if !ok {
		return "", fmt.Errorf("no EFI stub for architecture %q: UKIs are built for amd64 and arm64", arch)
	}
	return StubDir + "/" + name, nil
}

// Arch returns the architecture of the PE image in r (a stub, a UKI, an
// EFI loader): amd64 or arm64.
func Arch(r io.ReaderAt) (string, error) {
	f, err := pe.NewFile(r)
	if err != nil {
		return "", fmt.Errorf("not a PE image: %w", err)
	}
	arch, ok := machines[f.FileHeader.Machine]
	if !ok {
		return "", fmt.Errorf("PE machine type %#x is neither amd64 nor arm64", f.FileHeader.Machine)
	}
	return arch, nil
}

// FileArch is Arch of the file at path.
func FileArch(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	arch, err := Arch(f)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return arch, nil
}

// OSRelease is the .osrel section Keel writes: systemd-boot lists the
// image by these names.
const OSRelease = "NAME=Keel\nID=keel\nPRETTY_NAME=Keel\n"

// Parts are the contents of a UKI.
type Parts struct {
	OSRel   []byte
	Cmdline string
	Linux   io.Reader // the kernel's bzImage (x86) or Image (arm64)
	Initrd  io.Reader
}

// ReadStub reads the EFI stub at path (DefaultStub when empty), saying how
// to get it when it is missing.
func ReadStub(path string) ([]byte, error) {
	if path == "" {
		path = DefaultStub
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the EFI stub (install Debian's systemd-boot-efi package): %w", err)
	}
	return b, nil
}

// sectionHeaderSize is the size of one entry of the PE section table.
const sectionHeaderSize = 40

// Write writes stub with p's sections appended to w. The stub is parsed
// with debug/pe; the new section headers go into the stub's spare header
// room and their data after its last section, so the stub's own code is
// untouched and no objcopy is needed.
func Write(w io.Writer, stub []byte, p Parts) error {
	f, err := pe.NewFile(bytes.NewReader(stub))
	if err != nil {
		return fmt.Errorf("reading the EFI stub: %w", err)
	}
	opt, ok := f.OptionalHeader.(*pe.OptionalHeader64)
	if !ok {
		return errors.New("reading the EFI stub: not a 64-bit PE image")
	}
	if _, ok := machines[f.FileHeader.Machine]; !ok {
		return fmt.Errorf("reading the EFI stub: PE machine type %#x is neither amd64 nor arm64", f.FileHeader.Machine)
	}
	for _, s := range f.Sections {
		switch s.Name {
		case ".linux", ".initrd", ".cmdline", ".osrel":
			return fmt.Errorf("the EFI stub already has a %s section: give the bare stub, not a built UKI", s.Name)
		}
	}
	peOff := int64(binary.LittleEndian.Uint32(stub[0x3c:]))
	optOff := peOff + 4 + 20
	tableOff := optOff + int64(f.FileHeader.SizeOfOptionalHeader) + int64(len(f.Sections))*sectionHeaderSize
	linux, err := io.ReadAll(p.Linux)
	if err != nil {
		return fmt.Errorf("reading the kernel: %w", err)
	}
	initrd, err := io.ReadAll(p.Initrd)
	if err != nil {
		return fmt.Errorf("reading the initrd: %w", err)
	}
	add := []struct {
		name string
		data []byte
	}{
		{".osrel", p.OSRel},
		{".cmdline", []byte(p.Cmdline)},
		{".initrd", initrd},
		{".linux", linux},
	}
	if tableOff+int64(len(add))*sectionHeaderSize > int64(opt.SizeOfHeaders) {
		return fmt.Errorf("the EFI stub has no room for %d more section headers", len(add))
	}

	// New sections start after the highest existing one, in memory and in
	// the file.
	var va, fileEnd uint32
	for _, s := range f.Sections {
		va = max(va, s.VirtualAddress+s.VirtualSize)
		fileEnd = max(fileEnd, s.Offset+s.Size)
	}
	// Whatever the stub carries after its last section (a COFF symbol
	// table) is never loaded; dropping it keeps the sections contiguous,
	// which Authenticode hashing (Secure Boot) needs to be unambiguous.
	va = align(va, opt.SectionAlignment)
	fileEnd = align(fileEnd, opt.FileAlignment)

	out := make([]byte, fileEnd, int(fileEnd)+len(linux)+len(initrd)+4*int(opt.FileAlignment))
	copy(out, stub[:min(int(fileEnd), len(stub))])
	binary.LittleEndian.PutUint32(out[peOff+4+8:], 0)  // PointerToSymbolTable
	binary.LittleEndian.PutUint32(out[peOff+4+12:], 0) // NumberOfSymbols
	var headers bytes.Buffer
	for _, a := range add {
		h := pe.SectionHeader32{
			VirtualSize:      uint32(len(a.data)),
			VirtualAddress:   va,
			SizeOfRawData:    align(uint32(len(a.data)), opt.FileAlignment),
			PointerToRawData: uint32(len(out)),
			// Initialised, read-only data.
			Characteristics: pe.IMAGE_SCN_CNT_INITIALIZED_DATA | pe.IMAGE_SCN_MEM_READ,
		}
		copy(h.Name[:], a.name)
		if err := binary.Write(&headers, binary.LittleEndian, &h); err != nil {
			return err
		}
		out = append(out, a.data...)
		out = append(out, make([]byte, int(h.SizeOfRawData)-len(a.data))...)
		va = align(va+h.VirtualSize, opt.SectionAlignment)
	}
	copy(out[tableOff:], headers.Bytes())
	binary.LittleEndian.PutUint16(out[peOff+4+2:], f.FileHeader.NumberOfSections+uint16(len(add)))
	// SizeOfImage (offset 56 of the optional header) covers the new
	// sections; the checksum (offset 64) is cleared because firmware does
	// not check it and a stale one would be wrong.
	binary.LittleEndian.PutUint32(out[optOff+56:], va)
	binary.LittleEndian.PutUint32(out[optOff+64:], 0)
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("writing the UKI: %w", err)
	}
	return nil
}

func align(n, a uint32) uint32 {
	if a == 0 {
		return n
	}
	return (n + a - 1) / a * a
}
