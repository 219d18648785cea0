package uki

import (
	"bytes"
	"debug/pe"
	"encoding/binary"
	"os"
	"strings"
	"testing"
)

// stub returns Debian's systemd stub, which the tests need: the layout
// rules (alignment, header room) are the real file's.
func stub(t *testing.T) []byte {
	t.Helper()
	b, err := ReadStub("")
	if err != nil {
		if os.Getenv("KEEL_E2E") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	return b
}

func TestWriteSections(t *testing.T) {
	s := stub(t)
	kernel := bytes.Repeat([]byte("K"), 10000)
	initrd := bytes.Repeat([]byte("I"), 4097)
	var out bytes.Buffer
	err := Write(&out, s, Parts{OSRel: []byte(OSRelease), Cmdline: "console=ttyS0", Linux: bytes.NewReader(kernel), Initrd: bytes.NewReader(initrd)})
	if err != nil {
		t.Fatal(err)
	}
	f, err := pe.NewFile(bytes.NewReader(out.Bytes()))
	if err != nil {
		t.Fatalf("the UKI is not a PE file: %v", err)
	}
	orig, _ := pe.NewFile(bytes.NewReader(s))
	if got, want := len(f.Sections), len(orig.Sections)+4; got != want {
		t.Fatalf("got %d sections, want %d", got, want)
	}
	opt := f.OptionalHeader.(*pe.OptionalHeader64)
	want := []struct {
		name string
		data []byte
	}{
		{".osrel", []byte(OSRelease)},
		{".cmdline", []byte("console=ttyS0")},
		{".initrd", initrd},
		{".linux", kernel},
	}
	for i, w := range want {
		sec := f.Sections[len(orig.Sections)+i]
		if sec.Name != w.name {
			t.Errorf("section %d: got name %q, want %q", i, sec.Name, w.name)
			continue
		}
		data, err := sec.Data()
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if !bytes.Equal(data[:sec.VirtualSize], w.data) {
			t.Errorf("%s: contents differ from what was given", w.name)
		}
		if sec.VirtualAddress%opt.SectionAlignment != 0 || sec.Offset%opt.FileAlignment != 0 {
			t.Errorf("%s: address %#x / offset %#x not aligned to %#x / %#x", w.name, sec.VirtualAddress, sec.Offset, opt.SectionAlignment, opt.FileAlignment)
		}
	}
	// Sections must not overlap in memory, and the image must cover them.
	var end uint32
	for _, sec := range f.Sections {
		if sec.VirtualAddress < end {
			t.Errorf("section %s at %#x overlaps the one before (ends %#x)", sec.Name, sec.VirtualAddress, end)
		}
		end = sec.VirtualAddress + sec.VirtualSize
	}
	if opt.SizeOfImage < end {
		t.Errorf("got SizeOfImage %#x, want at least %#x", opt.SizeOfImage, end)
	}
	// The stub's own sections are unchanged.
	for i, sec := range orig.Sections {
		a, _ := sec.Data()
		b, _ := f.Sections[i].Data()
		if !bytes.Equal(a, b) {
			t.Errorf("stub section %s changed", sec.Name)
		}
	}
}

func TestWriteRejects(t *testing.T) {
	s := stub(t)
	var built bytes.Buffer
	if err := Write(&built, s, Parts{Linux: strings.NewReader("k"), Initrd: strings.NewReader("i")}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		stub []byte
		want string
	}{
		{"not PE", []byte("hello, world"), "reading the EFI stub"},
		{"already a UKI", built.Bytes(), "already has a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Write(&bytes.Buffer{}, tt.stub, Parts{Linux: strings.NewReader("k"), Initrd: strings.NewReader("i")})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// withMachine returns a copy of the PE image b with its machine type set.
func withMachine(b []byte, machine uint16) []byte {
	c := bytes.Clone(b)
	peOff := binary.LittleEndian.Uint32(c[0x3c:])
	binary.LittleEndian.PutUint16(c[peOff+4:], machine)
	return c
}

// TestArch: the architecture comes from the PE machine type; Write takes
// the amd64 and arm64 stubs and refuses others.
func TestArch(t *testing.T) {
	s := stub(t)
	tests := []struct {
		name     string
		stub     []byte
		wantArch string
		wantErr  string
	}{
		{"amd64", s, "amd64", ""},
		{"arm64", withMachine(s, pe.IMAGE_FILE_MACHINE_ARM64), "arm64", ""},
		{"i386", withMachine(s, pe.IMAGE_FILE_MACHINE_I386), "", "neither amd64 nor arm64"},
		{"not PE", []byte("hello, world"), "", "not a PE image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Arch(bytes.NewReader(tt.stub))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Arch: got %q, %v; want an error containing %q", got, err, tt.wantErr)
				}
				if err := Write(&bytes.Buffer{}, tt.stub, Parts{Linux: strings.NewReader("k"), Initrd: strings.NewReader("i")}); err == nil {
					t.Errorf("Write: got no error, want one")
				}
				return
			}
			if err != nil || got != tt.wantArch {
				t.Fatalf("Arch: got %q, %v; want %q", got, err, tt.wantArch)
			}
			var out bytes.Buffer
			if err := Write(&out, tt.stub, Parts{Linux: strings.NewReader("k"), Initrd: strings.NewReader("i")}); err != nil {
				t.Fatal(err)
			}
			if got, err := Arch(bytes.NewReader(out.Bytes())); err != nil || got != tt.wantArch {
				t.Errorf("Arch of the UKI: got %q, %v; want %q", got, err, tt.wantArch)
			}
		})
	}
}

func TestStubPath(t *testing.T) {
	tests := []struct{ arch, want, wantErr string }{
		{"amd64", DefaultStub, ""},
		{"arm64", "/usr/lib/systemd/boot/efi/linuxaa64.efi.stub", ""},
		{"riscv64", "", "no EFI stub"},
	}
	for _, tt := range tests {
		got, err := StubPath(tt.arch)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("StubPath(%q): got %q, %v; want an error containing %q", tt.arch, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("StubPath(%q): got %q, %v; want %q", tt.arch, got, err, tt.want)
		}
	}
}
