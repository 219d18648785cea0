package kmod

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestParseModinfo(t *testing.T) {
	tests := []struct {
		name   string
		fields []string
		want   Modinfo
	}{
		{"full", []string{"alias=pci:v1d*", "depends=virtio_ring,virtio", "name=virtio_net", "alias=virtio:d00000001v*", "license=GPL"},
			Modinfo{Name: "virtio_net", Depends: []string{"virtio_ring", "virtio"}, Aliases: []string{"pci:v1d*", "virtio:d00000001v*"}}},
		{"empty depends", []string{"depends=", "name=loop"}, Modinfo{Name: "loop"}},
		{"dashes normalized", []string{"depends=a-b,,c", "name=x-y"}, Modinfo{Name: "x_y", Depends: []string{"a_b", "c"}}},
		{"no name", []string{"license=GPL"}, Modinfo{}},
		{"softdep ignored", []string{"softdep=pre: crc32c", "name=btrfs"}, Modinfo{Name: "btrfs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseModinfo(fakeModule(tt.fields...))
			if err != nil {
				t.Fatalf("ParseModinfo: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseModinfoRejectsNonModules(t *testing.T) {
	if _, err := ParseModinfo([]byte("not an elf")); err == nil {
		t.Error("got nil error for non-ELF input, want an error")
	}
}

func TestReadModinfoCompressed(t *testing.T) {
	dir := t.TempDir()
	image := fakeModule("depends=b", "alias=x:*")

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(image)
	zw.Close()
	enc, _ := zstd.NewWriter(nil)
	zst := enc.EncodeAll(image, nil)

	files := map[string][]byte{
		"plain-mod.ko": image, "gz-mod.ko.gz": gz.Bytes(), "zst-mod.ko.zst": zst, "xz-mod.ko.xz": []byte("\xfd7zXZ\x00"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"plain-mod.ko", "gz-mod.ko.gz", "zst-mod.ko.zst"} {
		mi, err := ReadModinfo(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		wantName := strings.SplitN(name, ".", 2)[0]
		wantName = strings.ReplaceAll(wantName, "-", "_")
		if mi.Name != wantName || !reflect.DeepEqual(mi.Depends, []string{"b"}) {
			t.Errorf("%s: got %+v, want name %s depends [b]", name, mi, wantName)
		}
	}
	_, err := ReadModinfo(filepath.Join(dir, "xz-mod.ko.xz"))
	if err == nil || !strings.Contains(err.Error(), "xz") {
		t.Errorf("xz module: got error %v, want one saying xz is not supported", err)
	}
}

func TestNameFromPath(t *testing.T) {
	tests := map[string]string{
		"kernel/drivers/net/virtio_net.ko":             "virtio_net",
		"kernel/arch/x86/events/intel/intel-uncore.ko": "intel_uncore",
		"kernel/fs/overlayfs/overlay.ko.zst":           "overlay",
		"a/b-c.ko.xz":                                  "b_c",
	}
	for in, want := range tests {
		if got := NameFromPath(in); got != want {
			t.Errorf("NameFromPath(%q): got %q, want %q", in, got, want)
		}
	}
}
