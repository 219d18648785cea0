package output

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/keel-os/keel/packer/disk"
	"github.com/keel-os/keel/packer/iso"
	"github.com/keel-os/keel/packer/uki"
)

// The image formats made from a kernel+initrd build, named as LinuxKit
// names them (uki is Keel's own).
const (
	FormatISOBIOS = "iso-bios"
	FormatISOEFI  = "iso-efi"
	// FormatISOEFIInitrd boots the kernel and initrd, plain files on the
	// ISO, with GRUB.
	FormatISOEFIInitrd = "iso-efi-initrd"
	FormatRawBIOS      = "raw-bios"
	FormatRawEFI       = "raw-efi"
	FormatQCOW2BIOS    = "qcow2-bios"
	FormatQCOW2EFI     = "qcow2-efi"
	FormatVHD          = "vhd"
	// FormatDynamicVHD is raw-bios as a dynamically expanding VHD.
	FormatDynamicVHD = "dynamic-vhd"
	FormatVMDK       = "vmdk"
	FormatGCP        = "gcp"
	FormatAWS        = "aws"
	FormatUKI        = "uki"
)

const gib = 1 << 30

// ImageSuffixes maps each image format to the suffix after the build's
// name (LinuxKit's file names).
var ImageSuffixes = map[string]string{
	FormatISOBIOS:      ".iso",
	FormatISOEFI:       "-efi.iso",
	FormatISOEFIInitrd: "-efi-initrd.iso",
	FormatRawBIOS:      "-bios.img",
	FormatRawEFI:       "-efi.img",
	FormatQCOW2BIOS:    ".qcow2",
	FormatQCOW2EFI:     "-efi.qcow2",
	FormatVHD:          ".vhd",
	FormatDynamicVHD:   ".vhd",
	FormatVMDK:         ".vmdk",
	FormatGCP:          ".img.tar.gz",
	FormatAWS:          ".raw",
	FormatUKI:          ".efi",
}

// ImageFormats lists the image formats in the order users read them.
var ImageFormats = []string{FormatISOBIOS, FormatISOEFI, FormatISOEFIInitrd, FormatRawBIOS, FormatRawEFI, FormatQCOW2BIOS, FormatQCOW2EFI, FormatVHD, FormatDynamicVHD, FormatVMDK, FormatGCP, FormatAWS, FormatUKI}

// SizedFormat says whether --size applies: the format is a disk.
func SizedFormat(format string) bool {
	switch format {
	case FormatISOBIOS, FormatISOEFI, FormatISOEFIInitrd, FormatUKI, "":
		return false
	}
	_, ok := ImageSuffixes[format]
	return ok
}

// Boot is a kernel+initrd build on disk.
type Boot struct {
	Kernel, Initrd, Cmdline string
	// Signer, when set, signs the UKI of an EFI format for Secure Boot.
	Signer *uki.Signer
	// Stub is the systemd EFI stub of the kernel's architecture for the
	// UKI of an EFI format (empty: uki.DefaultStub, amd64's).
	Stub string
}

// Signable says whether a format boots a UKI that --sign-key can sign.
func Signable(format string) bool {
	switch format {
	case FormatUKI, FormatISOEFI, FormatRawEFI, FormatQCOW2EFI:
		return true
	}
	return false
}

// converted are the formats qemu-img makes from a raw disk: the raw
// format and qemu-img's name for the result.
var converted = map[string]struct{ raw, to string }{
	FormatQCOW2BIOS:  {FormatRawBIOS, "qcow2"},
	FormatQCOW2EFI:   {FormatRawEFI, "qcow2"},
	FormatVHD:        {FormatRawBIOS, "vpc"},
	FormatDynamicVHD: {FormatRawBIOS, disk.DynamicVHD},
	FormatVMDK:       {FormatRawBIOS, "vmdk"},
}

// WriteImage writes boot in format to dst. work is a scratch directory for
// intermediate images (the UKI, the raw disk a qcow2 is made from); size
// is the disk size for disk formats (0: just large enough).
func WriteImage(ctx context.Context, format, dst, work string, b Boot, size int64) error {
	if c, ok := converted[format]; ok {
		raw := filepath.Join(work, "disk.raw")
		if err := WriteImage(ctx, c.raw, raw, work, b, size); err != nil {
			return err
		}
		return disk.Convert(ctx, raw, dst, c.to)
	}
	switch format {
	case FormatUKI:
		return writeUKI(dst, b)
	case FormatISOBIOS:
		return iso.BIOS(dst, b.Kernel, b.Initrd, b.Cmdline)
	case FormatISOEFIInitrd:
		return iso.EFIInitrd(ctx, dst, b.Kernel, b.Initrd, b.Cmdline)
	case FormatISOEFI, FormatRawEFI:
		u := filepath.Join(work, "uki.efi")
		if err := writeUKI(u, b); err != nil {
			return err
		}
		// The loader's name on the ESP follows the stub's architecture.
		arch, err := uki.FileArch(u)
		if err != nil {
			return err
		}
		if format == FormatISOEFI {
			return iso.EFI(dst, u, arch)
		}
		return disk.RawEFI(dst, u, arch, size)
	case FormatRawBIOS, FormatAWS:
		// AWS imports a raw BIOS disk.
		return disk.RawBIOS(ctx, dst, b.Kernel, b.Initrd, b.Cmdline, size)
	case FormatGCP:
		// Compute Engine takes only disks of whole GiB.
		size = max(size+gib-1, gib) / gib * gib
		raw := filepath.Join(work, "disk.raw")
		if err := disk.RawBIOS(ctx, raw, b.Kernel, b.Initrd, b.Cmdline, size); err != nil {
			return err
		}
		return writeGCP(dst, raw)
	}
	return fmt.Errorf("unknown image format %q", format)
}

func writeUKI(dst string, b Boot) error {
	stub, err := uki.ReadStub(b.Stub)
	if err != nil {
		return err
	}
	kernel, err := os.Open(b.Kernel)
	if err != nil {
		return err
	}
	defer kernel.Close()
	initrd, err := os.Open(b.Initrd)
	if err != nil {
		return err
	}
	defer initrd.Close()
	var img bytes.Buffer
	if err := uki.Write(&img, stub, uki.Parts{OSRel: []byte(uki.OSRelease), Cmdline: strings.TrimSpace(b.Cmdline), Linux: kernel, Initrd: initrd}); err != nil {
		return err
	}
	data := img.Bytes()
	if b.Signer != nil {
		if data, err = uki.Sign(data, b.Signer); err != nil {
			return err
		}
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return fmt.Errorf("writing the UKI: %w", err)
	}
	return nil
}

// writeGCP packs raw as disk.raw in a gzip-compressed GNU tar, the layout
// Google Compute Engine imports.
func writeGCP(dst, raw string) error {
	in, err := os.Open(raw)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	// The disk is mostly an already compressed initrd and zeros: the
	// fastest level is as small as the default within a few per cent.
	zw, err := gzip.NewWriterLevel(out, gzip.BestSpeed)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	h := &tar.Header{Name: "disk.raw", Typeflag: tar.TypeReg, Mode: 0o644, Size: fi.Size(), ModTime: time.Unix(0, 0).UTC(), Format: tar.FormatGNU}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	if _, err := io.Copy(tw, in); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return out.Close()
}
