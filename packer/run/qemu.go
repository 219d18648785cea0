// Package run boots built images: `keel run qemu`.
package run

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// QEMU describes one boot of a kernel+initrd build.
type QEMU struct {
	// Prefix is the build's path prefix: Prefix-kernel, Prefix-initrd.img,
	// Prefix-cmdline.
	Prefix string
	Mem    int // MiB
	CPUs   int
	// ExtraCmdline is appended to the image's own command line.
	ExtraCmdline string
	// KVM is "auto" (use /dev/kvm when it opens), "on" or "off".
	KVM string
	// Publish forwards host ports to the guest (user-mode network).
	Publish []Publish
	// Disks are attached as virtio block devices, in order (/dev/vda, ...).
	// Run creates missing ones; Args expects them to exist.
	Disks []Disk
	// Extra arguments appended to QEMU's command line (metadata disks,
	// fw_cfg entries ...).
	Extra  []string
	Stdin  io.Reader
	Stdout io.Writer
	Binary string // default qemu-system-x86_64
}

// KVMUsable reports whether /dev/kvm can be opened for reading and writing.
func KVMUsable() bool {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// Args returns QEMU's command line for q.
func (q *QEMU) Args() ([]string, error) {
	kernel, initrd := q.Prefix+"-kernel", q.Prefix+"-initrd.img"
	for _, f := range []string{kernel, initrd} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("no kernel+initrd build at %s (want %s and %s; run `keel build` first): %w", q.Prefix, kernel, initrd, err)
		}
	}
	cmdline := ""
	if b, err := os.ReadFile(q.Prefix + "-cmdline"); err == nil {
		cmdline = strings.TrimSpace(string(b))
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	if q.ExtraCmdline != "" {
		cmdline = strings.TrimSpace(cmdline + " " + q.ExtraCmdline)
	}
	mem, cpus := q.Mem, q.CPUs
	if mem == 0 {
		mem = 1024
	}
	if cpus == 0 {
		cpus = 1
	}
	args := []string{
		"-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-nographic", "-no-reboot",
		"-kernel", kernel, "-initrd", initrd, "-append", cmdline,
		"-device", "virtio-rng-pci",
	}
	netdev := "user,id=net0"
	for _, p := range q.Publish {
		netdev += "," + p.hostfwd()
	}
	args = append(args, "-netdev", netdev, "-device", "virtio-net-pci,netdev=net0")
	for _, d := range q.Disks {
		args = append(args, d.args()...)
	}
	useKVM := q.KVM == "on" || (q.KVM != "off" && KVMUsable())
	if useKVM {
		args = append(args, "-enable-kvm", "-cpu", "host")
	} else {
		args = append(args, "-cpu", "max")
	}
	return append(args, q.Extra...), nil
}

// Run boots the image with the console on Stdin/Stdout and returns when
// QEMU exits. The guest powering itself off is a nil error.
func (q *QEMU) Run(ctx context.Context) error {
	for _, d := range q.Disks {
		if err := d.Ensure(ctx); err != nil {
			return err
		}
	}
	args, err := q.Args()
	if err != nil {
		return err
	}
	bin := q.Binary
	if bin == "" {
		bin = "qemu-system-x86_64"
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = q.Stdin, q.Stdout, q.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("qemu: %w", err)
	}
	return nil
}
