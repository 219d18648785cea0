package build

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/uki"
)

// TestRunArchPicksVariants: an arm64 build takes every image's arm64
// variant, refuses naming the image when one has none, and refuses formats
// that cannot boot on arm64.
func TestRunArchPicksVariants(t *testing.T) {
	f := newFixture(t, "")
	putArm := func(ref string, files map[string]string) {
		t.Helper()
		tr := image.NewTree()
		for p, c := range files {
			if err := tr.AddBytes(p, 0o755, []byte(c)); err != nil {
				t.Fatal(err)
			}
		}
		img, err := image.NewImageArch(tr, v1.Config{Entrypoint: []string{"/bin/svc"}}, "arm64")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.cache.Put(ref, img); err != nil {
			t.Fatal(err)
		}
	}
	putArm("test/kernel:1", map[string]string{"/kernel": "ARM64-KERNEL", "/kernel.tar": modulesTar(t)})
	putArm("test/init:1", map[string]string{"/init": "#!/bin/sh\n# arm64\n"})
	arm64 := func(format string) func(*Options) {
		return func(o *Options) { o.Arch, o.Pull, o.Format = "arm64", image.PullNever, format }
	}

	_, err := f.run(t, t.TempDir(), arm64(""))
	if err == nil || !strings.Contains(err.Error(), "test/svc:1") || !strings.Contains(err.Error(), "arm64") {
		t.Fatalf("arm64 build with an amd64-only service image: got %v, want an error naming test/svc:1 and arm64", err)
	}

	putArm("test/svc:1", map[string]string{"/bin/svc": "svc arm64"})
	dir := t.TempDir()
	res, err := f.run(t, dir, arm64(""))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(res.Kernel); err != nil || string(got) != "ARM64-KERNEL" {
		t.Errorf("kernel = %q (%v), want the arm64 variant's", got, err)
	}
	entries := readInitrd(t, res.Initrd)
	for name, want := range map[string]string{"init": "#!/bin/sh\n# arm64\n", "containers/services/svc/rootfs/bin/svc": "svc arm64"} {
		e, ok := entries[name]
		if !ok {
			t.Errorf("initrd has no %s", name)
			continue
		}
		if string(e.data) != want {
			t.Errorf("initrd %s = %q, want the arm64 variant's %q", name, e.data, want)
		}
	}

	for _, format := range []string{"iso-bios", "raw-bios", "qcow2-bios", "vhd", "docker"} {
		_, err := f.run(t, t.TempDir(), arm64(format))
		if err == nil || !strings.Contains(err.Error(), format) || !strings.Contains(err.Error(), "arm64") {
			t.Errorf("arm64 %s build: got %v, want an error naming the format and arm64", format, err)
		}
	}
}

// TestArchEFIFormats: arm64 UKIs are made from the arm64 systemd stub,
// fetched from Debian's arm64 package, and land on an EFI disk as
// BOOTAA64.EFI; two builds are byte-identical.
func TestArchEFIFormats(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads systemd-boot-efi:arm64")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("needs apt-get")
	}
	f := newFixture(t, "")
	for _, ref := range []string{"test/kernel:1", "test/init:1", "test/svc:1"} {
		img, err := f.cache.Get(ref)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf.Architecture = "arm64"
		arm, err := mutate.ConfigFile(img, cf)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.cache.Put(ref, arm); err != nil {
			t.Fatal(err)
		}
	}
	debs := t.TempDir()
	tests := []struct {
		format string
		// loader is the UKI's name inside the image ("" for a bare UKI).
		loader []byte
	}{
		{"uki", nil},
		{"raw-efi", []byte("BOOTAA64EFI")},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var outs [][]byte
			for range 2 {
				res, err := f.run(t, t.TempDir(), func(o *Options) {
					o.Arch, o.Pull, o.Format, o.DebCache = "arm64", image.PullNever, tt.format, debs
				})
				if err != nil {
					if strings.Contains(err.Error(), "systemd-boot-efi") {
						t.Skipf("no arm64 systemd stub here: %v", err)
					}
					t.Fatal(err)
				}
				b, err := os.ReadFile(res.Output)
				if err != nil {
					t.Fatal(err)
				}
				outs = append(outs, b)
			}
			if !bytes.Equal(outs[0], outs[1]) {
				t.Errorf("two arm64 %s builds differ", tt.format)
			}
			if tt.loader == nil {
				arch, err := uki.Arch(bytes.NewReader(outs[0]))
				if err != nil || arch != "arm64" {
					t.Errorf("UKI architecture: got %q, %v; want arm64", arch, err)
				}
				return
			}
			if !bytes.Contains(outs[0], tt.loader) {
				t.Errorf("the %s image has no %s directory entry", tt.format, tt.loader)
			}
		})
	}
}
