package boot

import (
	"bytes"
	"strings"
	"testing"
)

func TestDetectFSType(t *testing.T) {
	iso := make([]byte, isoMagicOffset+8)
	copy(iso[isoMagicOffset:], "CD001")
	erofs := make([]byte, 4096)
	copy(erofs[erofsMagicOffset:], "\xe2\xe1\xf5\xe0")
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"squashfs", []byte("hsqs and the rest"), "squashfs"},
		{"iso", iso, "iso9660"},
		{"erofs", erofs, "erofs"},
		{"other", []byte("MZ not a root"), ""},
		{"empty", nil, ""},
	} {
		got, err := detectFSType(bytes.NewReader(c.data), "/dev/vda")
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("%s: got %q, %v, want %q", c.name, got, err, c.want)
		}
	}
}

func TestMountRootDiskRefusesBadRoot(t *testing.T) {
	for _, c := range []struct {
		cmd, want string
	}{
		{"console=ttyS0", "names none"},
		{"root=", "names none"},
		{"root=LABEL=x", "want a device path"},
		{"root=/dev/../etc/passwd", "want a device path"},
	} {
		_, err := mountRootDisk(parseCmdline(c.cmd), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want an error saying %q", c.cmd, err, c.want)
		}
	}
}
