package build

import (
	"archive/tar"
	"bytes"
	"io"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/keel-os/keel/internal/testutil"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/keel-os/keel/packer/kernel"
	"github.com/keel-os/keel/packer/spec"
)

// selectionKernelTar is a kernel.tar with an index: virtio_net (needing
// failover), loop, xfs (needing libcrc32c), two mlx5 modules and a module
// nobody asks for; ext4 is built in.
func selectionKernelTar(t testing.TB) string {
	t.Helper()
	const dir = "lib/modules/6.1.0/"
	entries := []struct{ name, body string }{
		{"", ""},
		{"kernel/", ""},
		{"kernel/drivers/", ""},
		{"kernel/drivers/net/", ""},
		{"kernel/drivers/net/virtio_net.ko", "virtio_net"},
		{"kernel/drivers/net/failover.ko", "failover"},
		{"kernel/drivers/net/mlx5/", ""},
		{"kernel/drivers/net/mlx5/mlx5_core.ko", "mlx5_core"},
		{"kernel/drivers/net/mlx5/mlx5_ib.ko", "mlx5_ib"},
		{"kernel/drivers/block/", ""},
		{"kernel/drivers/block/loop.ko", "loop"},
		{"kernel/fs/", ""},
		{"kernel/fs/xfs/", ""},
		{"kernel/fs/xfs/xfs.ko", "xfs"},
		{"kernel/lib/", ""},
		{"kernel/lib/libcrc32c.ko", "libcrc32c"},
		{"kernel/misc/", ""},
		{"kernel/misc/unused-thing.ko", "unused"},
		{"modules.dep", "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/failover.ko\nkernel/drivers/net/failover.ko:\n" +
			"kernel/drivers/net/mlx5/mlx5_ib.ko: kernel/drivers/net/mlx5/mlx5_core.ko\nkernel/drivers/net/mlx5/mlx5_core.ko:\n" +
			"kernel/drivers/block/loop.ko:\nkernel/fs/xfs/xfs.ko: kernel/lib/libcrc32c.ko\nkernel/lib/libcrc32c.ko:\nkernel/misc/unused-thing.ko:\n"},
		{"modules.alias", "alias virtio:d00000001v* virtio_net\nalias fs-xfs xfs\nalias pci:v000015B3d00001017sv*sd*bc*sc*i* mlx5_core\nalias devname:loop-control loop\n"},
		{"modules.builtin", "kernel/fs/ext4/ext4.ko\n"},
		{"modules.order", "kernel/drivers/net/virtio_net.ko\n"},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: dir + e.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(e.body))}
		if e.name == "" || strings.HasSuffix(e.name, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, e.body)
	}
	tw.Close()
	return buf.String()
}

// readTarFiles returns a tar stream's entries: file bodies by name, and
// directories with a trailing "/" and an empty body.
func readTarFiles(t *testing.T, rc io.ReadCloser) map[string]string {
	t.Helper()
	defer rc.Close()
	out := map[string]string{}
	for _, e := range testutil.ReadTar(t, rc) {
		name := strings.TrimPrefix(e.Header.Name, "lib/modules/6.1.0/")
		if e.Header.Typeflag == tar.TypeDir {
			name = strings.TrimSuffix(name, "/") + "/"
		}
		out[name] = string(e.Data)
	}
	return out
}

// moduleFiles lists the .ko files among entries, sorted.
func moduleFiles(entries map[string]string) []string {
	var out []string
	for n := range entries {
		if strings.HasSuffix(n, ".ko") {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func TestChosenModules(t *testing.T) {
	kimg := treeImage(t, map[string]string{"/kernel": "KERNEL", "/kernel.tar": selectionKernelTar(t)}, v1.Config{})
	kf := newKernelFiles(spec.Kernel{Image: "kernel-image"}, kimg)
	const net, fail, loop = "kernel/drivers/net/virtio_net.ko", "kernel/drivers/net/failover.ko", "kernel/drivers/block/loop.ko"
	const xfs, crc = "kernel/fs/xfs/xfs.ko", "kernel/lib/libcrc32c.ko"
	const core, ib, unused = "kernel/drivers/net/mlx5/mlx5_core.ko", "kernel/drivers/net/mlx5/mlx5_ib.ko", "kernel/misc/unused-thing.ko"
	tests := []struct {
		name    string
		modules *spec.Modules
		want    []string // module files kept
		// wantOmitted are lines the omitted index must hold.
		wantOmitted []string
	}{
		{"default set with dependencies", nil, []string{loop, fail, net}, []string{"module xfs", "alias fs-xfs xfs", "module unused_thing"}},
		{"a name adds its closure", &spec.Modules{Names: []string{"xfs"}}, []string{loop, fail, net, xfs, crc}, []string{"module mlx5_core"}},
		{"a glob", &spec.Modules{Names: []string{"mlx5_*"}}, []string{loop, core, ib, fail, net}, []string{"module xfs"}},
		{"dashes are underscores", &spec.Modules{Names: []string{"unused-thing"}}, []string{loop, fail, net, unused}, nil},
		{"built in is fine", &spec.Modules{Names: []string{"ext4"}}, []string{loop, fail, net}, nil},
		{"empty list is the default", &spec.Modules{Names: []string{}}, []string{loop, fail, net}, nil},
		{"all", &spec.Modules{All: true}, []string{loop, core, ib, fail, net, xfs, unused, crc}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := chosenModules(kf, newModuleChoice(tt.modules))
			if err != nil {
				t.Fatal(err)
			}
			got := readTarFiles(t, rc)
			sort.Strings(tt.want)
			if files := moduleFiles(got); !reflect.DeepEqual(files, tt.want) {
				t.Errorf("module files: got %v, want %v", files, tt.want)
			}
			if tt.modules != nil && tt.modules.All {
				if _, ok := got["modules.omitted"]; ok || !strings.Contains(got["modules.dep"], "mlx5_ib") {
					t.Errorf("modules: all: got an edited index (omitted file: %v), want the kernel's own", ok)
				}
				return
			}
			// The index names exactly the kept modules.
			var depFiles []string
			for _, l := range strings.Split(strings.TrimSpace(got["modules.dep"]), "\n") {
				f, _, _ := strings.Cut(l, ":")
				depFiles = append(depFiles, f)
			}
			sort.Strings(depFiles)
			if !reflect.DeepEqual(depFiles, tt.want) {
				t.Errorf("modules.dep lists %v, want %v", depFiles, tt.want)
			}
			if strings.Contains(got["modules.alias"], "fs-xfs") != strings.Contains(strings.Join(tt.want, " "), "xfs.ko") {
				t.Errorf("modules.alias does not follow the kept modules:\n%s", got["modules.alias"])
			}
			for _, l := range tt.wantOmitted {
				if !strings.Contains(got["modules.omitted"], l+"\n") {
					t.Errorf("modules.omitted lacks %q:\n%s", l, got["modules.omitted"])
				}
			}
			if got["modules.builtin"] != "kernel/fs/ext4/ext4.ko\n" {
				t.Errorf("modules.builtin: got %q, want the kernel's", got["modules.builtin"])
			}
			// Directories that hold no kept module are dropped.
			if _, ok := got["kernel/misc/"]; ok != strings.Contains(strings.Join(tt.want, " "), unused) {
				t.Errorf("kernel/misc/ present=%v with modules %v", ok, tt.want)
			}
			if _, ok := got["kernel/drivers/net/"]; !ok {
				t.Error("kernel/drivers/net/ dropped, though it holds virtio_net")
			}
		})
	}
}

func TestChosenModulesErrors(t *testing.T) {
	kimg := treeImage(t, map[string]string{"/kernel": "KERNEL", "/kernel.tar": selectionKernelTar(t)}, v1.Config{})
	kf := newKernelFiles(spec.Kernel{Image: "kernel-image"}, kimg)
	s, err := spec.Parse("s.yml", []byte("kernel:\n  image: k\n  modules:\n    - virtio_nett\n    - \"zz*\"\n    - xfs\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = chosenModules(kf, newModuleChoice(s.Kernel.Modules))
	for _, want := range []string{
		`s.yml:4:7: kernel.modules: "virtio_nett" matches no module of the kernel image kernel-image (did you mean virtio_net?)`,
		`s.yml:5:7: kernel.modules: "zz*" matches no module`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got error %v, want one containing %q", err, want)
		}
	}
}

func TestModuleChoiceKey(t *testing.T) {
	keys := map[string]string{}
	for name, m := range map[string]*spec.Modules{
		"default": nil,
		"xfs":     {Names: []string{"xfs"}},
		"all":     {All: true},
	} {
		k := newModuleChoice(m).key()
		for other, ok := range keys {
			if ok == k {
				t.Errorf("choices %s and %s share the cache key %q", name, other, k)
			}
		}
		keys[name] = k
	}
}

// A kernel image without modules.dep keeps every module: nothing to choose
// by.
func TestChosenModulesWithoutIndex(t *testing.T) {
	kimg := treeImage(t, map[string]string{"/kernel": "KERNEL", "/kernel.tar": otherModulesTar(t)}, v1.Config{})
	rc, err := chosenModules(newKernelFiles(spec.Kernel{Image: "k"}, kimg), newModuleChoice(nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := moduleFiles(readTarFiles(t, rc)); !reflect.DeepEqual(got, []string{"b.ko"}) {
		t.Errorf("got %v, want [b.ko]", got)
	}
	// Naming modules there is a mistake worth saying.
	_, err = chosenModules(newKernelFiles(spec.Kernel{Image: "k"}, kimg), newModuleChoice(&spec.Modules{Names: []string{"xfs"}}))
	if err == nil || !strings.Contains(err.Error(), "has no modules.dep") {
		t.Errorf("kernel.modules with an unindexed kernel: got %v, want an error saying there is no modules.dep", err)
	}
}

// The spec's own needs widen the set: /etc/modules names and the
// filesystems its containers mount.
func TestSpecModules(t *testing.T) {
	kimg := treeImage(t, map[string]string{"/kernel": "KERNEL", "/kernel.tar": selectionKernelTar(t)}, v1.Config{})
	kf := newKernelFiles(spec.Kernel{Image: "kernel-image"}, kimg)
	tests := []struct {
		name, yaml string
		want       []string // module files beyond the default set's
	}{
		{"nothing extra", "services:\n  - name: a\n    image: x\n", nil},
		{"etc/modules", "files:\n  - path: etc/modules\n    contents: \"# comment\\nunused-thing opt=1\\nnot-in-kernel\\n\"\n",
			[]string{"kernel/misc/unused-thing.ko"}},
		{"a container mounts xfs", "services:\n  - name: a\n    image: x\n    mounts:\n      - {type: xfs, source: /dev/vdb, destination: /data}\n      - {type: tmpfs, source: tmpfs, destination: /tmp}\n",
			[]string{"kernel/fs/xfs/xfs.ko", "kernel/lib/libcrc32c.ko"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := spec.Parse("s.yml", []byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			rc, err := chosenModules(kf, specModules(s))
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string{"kernel/drivers/block/loop.ko", "kernel/drivers/net/failover.ko", "kernel/drivers/net/virtio_net.ko"}, tt.want...)
			sort.Strings(want)
			if got := moduleFiles(readTarFiles(t, rc)); !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// A kernel image may recommend keeping every module (the generic kernel
// for physical machines does, through kernel.ModulesLabel); the spec's own
// choice wins over it, and a value keel does not know is refused.
func TestKernelModuleDefault(t *testing.T) {
	tests := []struct {
		name    string
		label   string // "" for no label
		spec    *spec.Modules
		wantAll bool
		wantErr string
	}{
		{"no label, no choice", "", nil, false, ""},
		{"label all, no choice", kernel.ModulesAll, nil, true, ""},
		{"label all, the spec lists modules", kernel.ModulesAll, &spec.Modules{Names: []string{"ixgbe"}}, false, ""},
		{"label all, the spec says all", kernel.ModulesAll, &spec.Modules{All: true}, true, ""},
		{"unknown label", "some", nil, false, `recommends modules "some"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := v1.Config{}
			if tt.label != "" {
				cfg.Labels = map[string]string{kernel.ModulesLabel: tt.label}
			}
			kimg := treeImage(t, map[string]string{"/kernel": "KERNEL"}, cfg)
			c := newModuleChoice(tt.spec)
			err := kernelModuleDefault(&c, tt.spec, kimg, "k")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.all != tt.wantAll {
				t.Errorf("got all=%v, want %v", c.all, tt.wantAll)
			}
		})
	}
}
