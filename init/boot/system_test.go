package boot

import (
	"reflect"
	"testing"
)

func TestParseModulesList(t *testing.T) {
	in := `# modules to load
virtio_net
  loop   max_loop=8  max_part=2 # trailing comment

overlay
`
	want := []moduleRequest{{"virtio_net", ""}, {"loop", "max_loop=8 max_part=2"}, {"overlay", ""}}
	if got := parseModulesList(in); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestParseMountinfo(t *testing.T) {
	in := `22 25 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:3 - proc proc rw
25 1 0:2 / / rw shared:1 - rootfs rootfs rw,size=232684k
40 25 0:30 / /mnt/with\040space rw - tmpfs my\040src rw
26 1 0:2 / / rw - tmpfs tmpfs rw
garbage line
`
	got := parseMountinfo(in)
	want := []mountEntry{
		{point: "/proc", fstype: "proc", source: "proc"},
		{point: "/", fstype: "rootfs", source: "rootfs"},
		{point: "/mnt/with space", fstype: "tmpfs", source: "my src"},
		{point: "/", fstype: "tmpfs", source: "tmpfs"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if !mountedAt(got, "/proc") || mountedAt(got, "/sys") {
		t.Error("mountedAt: got wrong answer for /proc or /sys")
	}
	if rt := rootFSType(got); rt != "tmpfs" {
		t.Errorf("rootFSType: got %q, want tmpfs (the topmost mount on /)", rt)
	}
	if rt := rootFSType(want[:2]); rt != "rootfs" {
		t.Errorf("rootFSType: got %q, want rootfs", rt)
	}
}
