package build

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-os/keel/packer/output"
	"github.com/keel-os/keel/packer/rootfs"
)

// writeKernelInitrd writes Name-kernel, Name-initrd.img and Name-cmdline.
// Each is written to a temporary file and renamed only when every part
// succeeded, so a failed build never leaves a partial artifact behind.
func writeKernelInitrd(opt Options, cmdline string, kimg v1.Image, sys *rootfs.System) (*Result, error) {
	if err := os.MkdirAll(opt.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating output directory: %w", err)
	}
	res := &Result{
		Kernel:  filepath.Join(opt.Dir, opt.Name+"-kernel"),
		Initrd:  filepath.Join(opt.Dir, opt.Name+"-initrd.img"),
		Cmdline: filepath.Join(opt.Dir, opt.Name+"-cmdline"),
	}
	var temps []*os.File
	cleanup := func() {
		for _, f := range temps {
			f.Close()
			os.Remove(f.Name())
		}
	}
	create := func(final string) (*os.File, error) {
		f, err := os.CreateTemp(opt.Dir, "."+filepath.Base(final)+".*")
		if err == nil {
			temps = append(temps, f)
		}
		return f, err
	}

	kf, err := create(res.Kernel)
	if err != nil {
		return nil, err
	}
	k, err := member(kimg, "kernel", false)
	if err != nil {
		cleanup()
		return nil, err
	}
	_, err = io.Copy(kf, k)
	k.Close()
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("writing kernel: %w", err)
	}

	inf, err := create(res.Initrd)
	if err != nil {
		cleanup()
		return nil, err
	}
	comp, err := output.ParseCompression(opt.Compress)
	if err != nil {
		cleanup()
		return nil, err
	}
	cw, err := output.NewCPIOCompressed(inf, comp)
	if err == nil {
		err = rootfs.Write(sys, cw)
	}
	if err == nil {
		err = cw.Close()
	}
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("writing initrd: %w", err)
	}

	cf, err := create(res.Cmdline)
	if err != nil {
		cleanup()
		return nil, err
	}
	if _, err := cf.WriteString(cmdline); err != nil {
		cleanup()
		return nil, err
	}

	finals := []string{res.Kernel, res.Initrd, res.Cmdline}
	for _, f := range temps {
		if err := f.Chmod(0o644); err != nil {
			cleanup()
			return nil, err
		}
		if err := f.Close(); err != nil {
			cleanup()
			return nil, err
		}
	}
	for i, f := range temps {
		if err := os.Rename(f.Name(), finals[i]); err != nil {
			cleanup()
			return nil, fmt.Errorf("placing %s: %w", finals[i], err)
		}
	}
	return res, nil
}
