package kernel

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keel-os/keel/internal/testkernel"
	"github.com/keel-os/keel/internal/testutil"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-os/keel/packer/image"
)

// imageFiles reads the image's single layer into name → content.
func imageFiles(t *testing.T, img v1.Image) map[string][]byte {
	t.Helper()
	rc := image.Flatten(img)
	defer rc.Close()
	return testutil.TarFiles(t, rc)
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// smallKernel builds an unpacked package with a fake bzImage and a few real
// modules (virtio_net needs net_failover, which needs failover, and the
// virtio core).
func smallKernel(t *testing.T) string {
	t.Helper()
	realRoot, realVersion := testkernel.Unpacked(t)
	realMods := filepath.Join(realRoot, "lib/modules", realVersion)
	root := t.TempDir()
	const v = "9.9.9-test"
	if err := os.MkdirAll(filepath.Join(root, "boot"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{"vmlinuz-" + v: "bzImage", "config-" + v: "CONFIG_X=y\n"} {
		if err := os.WriteFile(filepath.Join(root, "boot", name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mods := filepath.Join(root, "lib/modules", v)
	for _, m := range []string{"kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko",
		"kernel/drivers/virtio/virtio.ko", "kernel/drivers/virtio/virtio_ring.ko", "modules.builtin"} {
		copyFile(t, filepath.Join(realMods, m), filepath.Join(mods, m))
	}
	return root
}

func TestFromDirLayout(t *testing.T) {
	root := smallKernel(t)
	img, version, err := fromDir(root, "amd64", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if version != "9.9.9-test" {
		t.Errorf("version = %q, want 9.9.9-test", version)
	}
	if v, ok, _ := image.Label(img, VersionLabel); !ok || v != version {
		t.Errorf("label %s = %q, want %q", VersionLabel, v, version)
	}
	files := imageFiles(t, img)
	if string(files["kernel"]) != "bzImage" || string(files["config"]) != "CONFIG_X=y\n" {
		t.Errorf("kernel=%q config=%q, want the package's vmlinuz and config", files["kernel"], files["config"])
	}
	if _, ok := files["System.map"]; ok {
		t.Error("System.map present although the package has none")
	}
	mods := testutil.TarFiles(t, bytes.NewReader(files["kernel.tar"]))
	prefix := "lib/modules/9.9.9-test/"
	for _, want := range []string{"lib/", "lib/modules/", prefix, prefix + "kernel/drivers/net/virtio_net.ko", prefix + "modules.dep"} {
		if _, ok := mods[want]; !ok {
			t.Errorf("kernel.tar lacks %s", want)
		}
	}
	var line string
	for _, l := range strings.Split(string(mods[prefix+"modules.dep"]), "\n") {
		if strings.HasPrefix(l, "kernel/drivers/net/virtio_net.ko:") {
			line = l
		}
	}
	for _, dep := range []string{"kernel/drivers/net/net_failover.ko", "kernel/net/core/failover.ko", "kernel/drivers/virtio/virtio.ko"} {
		if !strings.Contains(line, dep) {
			t.Errorf("modules.dep line %q lacks %s", line, dep)
		}
	}

	again, _, err := fromDir(root, "amd64", nil, "")
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("same package, different digests: %s %s", d1, d2)
	}
}

func TestFromDirErrors(t *testing.T) {
	tests := []struct {
		name  string
		files []string
		want  string
	}{
		{"no kernel", []string{"lib/modules/1/x"}, "no boot/vmlinuz"},
		{"two kernels", []string{"boot/vmlinuz-1", "boot/vmlinuz-2"}, "several kernels"},
		{"no modules", []string{"boot/vmlinuz-1"}, "no lib/modules/1"},
	}
	for _, tc := range tests {
		root := t.TempDir()
		for _, f := range tc.files {
			p := filepath.Join(root, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, _, err := fromDir(root, "amd64", nil, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestFromDebReal(t *testing.T) {
	if testing.Short() {
		t.Skip("unpacks and indexes a whole kernel")
	}
	realDeb, realVersion := testkernel.Deb(t)
	realRoot, _ := testkernel.Unpacked(t)
	img, version, err := FromDeb(realDeb, "amd64", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if version != realVersion {
		t.Errorf("version = %q, want %q", version, realVersion)
	}
	files := imageFiles(t, img)
	vmlinuz, err := os.ReadFile(filepath.Join(realRoot, "boot", "vmlinuz-"+realVersion))
	if err == nil && !bytes.Equal(files["kernel"], vmlinuz) {
		t.Errorf("/kernel (%d bytes) differs from the package's vmlinuz (%d bytes)", len(files["kernel"]), len(vmlinuz))
	}
	mods := testutil.TarFiles(t, bytes.NewReader(files["kernel.tar"]))
	n := 0
	for name := range mods {
		if strings.HasSuffix(name, ".ko") {
			n++
		}
	}
	if n < 1000 {
		t.Errorf("kernel.tar holds %d modules, want the package's 1121", n)
	}
	dep := mods["lib/modules/"+realVersion+"/modules.dep"]
	if !bytes.Contains(dep, []byte("kernel/drivers/net/virtio_net.ko:")) {
		t.Errorf("modules.dep (%d bytes) has no virtio_net line", len(dep))
	}
}

// A kernel for physical machines carries firmware in kernel.tar (a later
// package's file replaces an earlier one's) and recommends its module
// choice through ModulesLabel; without them, neither appears.
func TestFromDirFirmwareAndModules(t *testing.T) {
	fw1, fw2 := t.TempDir(), t.TempDir()
	for dir, files := range map[string]map[string]string{
		fw1: {"isci/isci_firmware.bin": "one", "shared.fw": "old"},
		fw2: {"shared.fw": "new"},
	} {
		for name, content := range files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name      string
		firmware  []string
		choice    string
		wantFiles map[string]string // in kernel.tar
		wantLabel string            // "" for none
	}{
		{"cloud-like", nil, "", nil, ""},
		{"bare metal", []string{fw1, fw2}, ModulesAll,
			map[string]string{"lib/firmware/isci/isci_firmware.bin": "one", "lib/firmware/shared.fw": "new"}, ModulesAll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, _, err := fromDir(smallKernel(t), "amd64", tt.firmware, tt.choice)
			if err != nil {
				t.Fatal(err)
			}
			v, ok, _ := image.Label(img, ModulesLabel)
			if v != tt.wantLabel || ok != (tt.wantLabel != "") {
				t.Errorf("label %s = %q (present %v), want %q", ModulesLabel, v, ok, tt.wantLabel)
			}
			mods := testutil.TarFiles(t, bytes.NewReader(imageFiles(t, img)["kernel.tar"]))
			for name, want := range tt.wantFiles {
				if got, ok := mods[name]; !ok || string(got) != want {
					t.Errorf("kernel.tar %s = %q (present %v), want %q", name, got, ok, want)
				}
			}
			if tt.wantFiles == nil {
				for name := range mods {
					if strings.HasPrefix(name, "lib/firmware") {
						t.Errorf("kernel.tar has %s, want no firmware", name)
					}
				}
			}
		})
	}
}
