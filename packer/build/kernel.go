package build

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/spec"
)

// kernelFiles names the files of a kernel image that a build uses, as the
// spec's kernel section chooses them (LinuxKit's binary, tar and ucode).
type kernelFiles struct {
	// ref is the kernel image's reference, for errors.
	ref string
	img v1.Image
	// binary is the kernel ("kernel" unless kernel.binary says otherwise).
	binary string
	// tar is the modules tarball; "" means none.
	tar string
	// tarOptional is set when tar is LinuxKit's default rather than a name
	// the spec gave: then an image without it simply has no modules.
	tarOptional bool
	// ucode is the early microcode cpio; "" means none.
	ucode string
}

// newKernelFiles applies LinuxKit's defaults to the kernel section k:
// binary "kernel", tar "kernel.tar" ("none" or "" for no modules), and no
// microcode unless ucode names a file.
func newKernelFiles(k spec.Kernel, img v1.Image) kernelFiles {
	kf := kernelFiles{ref: k.Image, img: img, binary: "kernel", tar: "kernel.tar", tarOptional: true}
	if k.Binary != "" {
		kf.binary = k.Binary
	}
	if k.Tar != nil {
		kf.tar, kf.tarOptional = *k.Tar, false
		if kf.tar == "none" {
			kf.tar = ""
		}
	}
	if k.UCode != nil {
		kf.ucode = *k.UCode
	}
	return kf
}

// memberFile is one file of an image's filesystem, being read.
type memberFile struct {
	io.Reader
	io.Closer
	size int64
}

// kernel opens the kernel binary.
func (kf kernelFiles) kernel() (*memberFile, error) {
	return kf.member("binary", kf.binary)
}

// modules opens the modules tarball; with none, or without LinuxKit's
// default kernel.tar in the image, it is an empty tar stream.
func (kf kernelFiles) modules() (io.ReadCloser, error) {
	if kf.tar == "" {
		return emptyTar(), nil
	}
	m, err := kf.member("tar", kf.tar)
	if errors.Is(err, errNoMember) && kf.tarOptional {
		return emptyTar(), nil
	}
	return m, err
}

// microcode reads the early microcode archive, nil when there is none. It
// must be an uncompressed cpio (newc): the kernel looks for microcode only
// in an uncompressed archive at the very start of the initrd.
func (kf kernelFiles) microcode() ([]byte, error) {
	if kf.ucode == "" {
		return nil, nil
	}
	m, err := kf.member("ucode", kf.ucode)
	if err != nil {
		return nil, err
	}
	defer m.Close()
	data, err := io.ReadAll(m)
	if err != nil {
		return nil, fmt.Errorf("kernel.ucode: reading /%s of %s: %w", kf.ucode, kf.ref, err)
	}
	if !bytes.HasPrefix(data, []byte("070701")) && !bytes.HasPrefix(data, []byte("070702")) {
		return nil, fmt.Errorf("kernel.ucode: /%s of %s is not an uncompressed cpio archive (newc): the kernel reads early microcode only from one; unpack or rebuild it uncompressed", kf.ucode, kf.ref)
	}
	// The kernel accepts a cpio archive only at a 4-byte boundary of the
	// initrd (NULs before it are skipped): pad, so that the next segment
	// also starts on one when the initrd is not compressed.
	if r := len(data) % 4; r != 0 {
		data = append(data, make([]byte, 4-r)...)
	}
	return data, nil
}

func emptyTar() io.ReadCloser {
	return io.NopCloser(bytes.NewReader(make([]byte, 1024)))
}

var errNoMember = errors.New("no such file in the kernel image")

// member opens the regular file name of the kernel image; field is the
// kernel section's field that chose it, for the error.
func (kf kernelFiles) member(field, name string) (*memberFile, error) {
	want := strings.TrimPrefix(filepath.Clean("/"+name), "/")
	rc := image.Flatten(kf.img)
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			rc.Close()
			return nil, fmt.Errorf("kernel.%s: the kernel image %s has no /%s (set kernel.%s to the file's name in the image; LinuxKit's kernel layout has /kernel and /kernel.tar): %w", field, kf.ref, want, field, errNoMember)
		}
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("reading kernel image %s: %w", kf.ref, err)
		}
		if strings.TrimPrefix(filepath.Clean("/"+h.Name), "/") == want && h.Typeflag == tar.TypeReg {
			return &memberFile{tr, rc, h.Size}, nil
		}
	}
}
