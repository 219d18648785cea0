package main

import (
	"bufio"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/internal/blockdev"
)

func TestParseFlags(t *testing.T) {
	def := 10 * time.Second
	tests := []struct {
		args []string
		want options
		err  string
	}{
		{[]string{"/var/external"}, options{mountpoint: "/var/external", wait: def}, ""},
		{[]string{"-label", "DATA", "/var/lib"}, options{label: "DATA", mountpoint: "/var/lib", wait: def}, ""},
		{[]string{"-device", "/dev/vdb1", "/var/lib"}, options{device: "/dev/vdb1", mountpoint: "/var/lib", wait: def}, ""},
		{[]string{"/dev/vdb1", "/var/lib"}, options{device: "/dev/vdb1", mountpoint: "/var/lib", wait: def}, ""},
		{[]string{"-uuid", "0b5e8c6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "-wait", "1s", "/mnt"},
			options{uuid: "0b5e8c6a-1c2d-4e5f-8a9b-0c1d2e3f4a5b", mountpoint: "/mnt", wait: time.Second}, ""},
		{nil, options{}, "no mount point"},
		{[]string{"a", "b", "c"}, options{}, "too many arguments"},
		{[]string{"-label", "A", "-device", "/dev/vda1", "/mnt"}, options{}, "only one of"},
		{[]string{"-device", "/dev/vda1", "/dev/vdb1", "/mnt"}, options{}, "given twice"},
		{[]string{"var/external"}, options{}, "absolute path"},
		{[]string{"-partition", "2", "/mnt"}, options{}, "-partition is not supported"},
	}
	for _, tc := range tests {
		got, err := parseFlags(tc.args, io.Discard)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: got error %v, want one containing %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: got %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
}

type fakeEnv struct {
	devs    []blockdev.Device
	fs      map[string]blockdev.Ext // device path -> filesystem
	mounts  map[string]string
	mounted [][2]string
	sleeps  int
	appear  int // the filesystems show up after this many sleeps
}

func (f *fakeEnv) Devices() ([]blockdev.Device, error) { return f.devs, nil }
func (f *fakeEnv) ReadExt(p string) (blockdev.Ext, error) {
	if e, ok := f.fs[p]; ok && f.sleeps >= f.appear {
		return e, nil
	}
	return blockdev.Ext{}, blockdev.ErrNotExt
}
func (f *fakeEnv) Mounts() (map[string]string, error) { return f.mounts, nil }
func (f *fakeEnv) Mount(dev, mp string) error {
	f.mounted = append(f.mounted, [2]string{dev, mp})
	return nil
}
func (f *fakeEnv) Logf(string, ...any) {}
func (f *fakeEnv) Sleep(time.Duration) { f.sleeps++ }

func dev(name string, disk bool, parent string) blockdev.Device {
	return blockdev.Device{Name: name, Path: "/dev/" + name, Disk: disk, Parent: parent}
}

func TestRun(t *testing.T) {
	devs := []blockdev.Device{dev("loop0", true, ""), dev("vda", true, ""), dev("vda1", false, "vda"), dev("vdb", true, ""), dev("vdb1", false, "vdb"), dev("vdc", true, "")}
	fs := map[string]blockdev.Ext{
		"/dev/loop0": {Type: "ext4", Label: "DATA"},
		"/dev/vda1":  {Type: "ext4", Label: "system", UUID: "11111111-2222-3333-4444-555555555555"},
		"/dev/vdb1":  {Type: "ext4", Label: "DATA"},
		"/dev/vdc":   {Type: "ext2", Label: "whole"},
	}
	tests := []struct {
		name   string
		o      options
		mounts map[string]string
		appear int
		want   [][2]string
		err    string
	}{
		{"first ext4 partition", options{mountpoint: "/var/external"}, nil, 0, [][2]string{{"/dev/vda1", "/var/external"}}, ""},
		{"skips a mounted one", options{mountpoint: "/var/external"}, map[string]string{"/dev/vda1": "/var/lib"}, 0,
			[][2]string{{"/dev/vdb1", "/var/external"}}, ""},
		{"whole disk last", options{mountpoint: "/m"}, map[string]string{"/dev/vda1": "/a", "/dev/vdb1": "/b"}, 0,
			[][2]string{{"/dev/vdc", "/m"}}, ""},
		{"by label, not from a loop device", options{label: "DATA", mountpoint: "/m"}, nil, 0, [][2]string{{"/dev/vdb1", "/m"}}, ""},
		{"by uuid", options{uuid: "11111111-2222-3333-4444-555555555555", mountpoint: "/m"}, nil, 0, [][2]string{{"/dev/vda1", "/m"}}, ""},
		{"by device name", options{device: "vdc", mountpoint: "/m"}, nil, 0, [][2]string{{"/dev/vdc", "/m"}}, ""},
		{"already mounted there", options{label: "DATA", mountpoint: "/m"}, map[string]string{"/dev/vdb1": "/m"}, 0, nil, ""},
		{"appears after a while", options{label: "DATA", mountpoint: "/m", wait: time.Second}, nil, 3, [][2]string{{"/dev/vdb1", "/m"}}, ""},
		{"label never appears", options{label: "nope", mountpoint: "/m", wait: time.Second}, nil, 0, nil,
			`no filesystem labelled "nope" (filesystems found: vda1 (ext4 "system"), vdb1 (ext4 "DATA"), vdc (ext2 "whole"))`},
		{"device without ext4", options{device: "/dev/vdb", mountpoint: "/m"}, nil, 0, nil, "/dev/vdb holds no ext4 filesystem"},
		{"all mounted", options{mountpoint: "/m"}, map[string]string{"/dev/vda1": "/a", "/dev/vdb1": "/b", "/dev/vdc": "/c"}, 0, nil,
			"no unmounted ext4 filesystem"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &fakeEnv{devs: devs, fs: fs, mounts: tc.mounts, appear: tc.appear}
			err := run(tc.o, e)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("got error %v, want one containing %q", err, tc.err)
				}
			} else if err != nil {
				t.Errorf("got error %v", err)
			}
			if !reflect.DeepEqual(e.mounted, tc.want) {
				t.Errorf("mounted %q, want %q", e.mounted, tc.want)
			}
			if tc.o.wait == 0 && e.sleeps != 0 {
				t.Errorf("slept %d times with no wait", e.sleeps)
			}
		})
	}
}

func TestParseMountinfo(t *testing.T) {
	in := "22 1 0:21 / / rw,relatime shared:1 - tmpfs rootfs rw\n" +
		"40 22 254:1 / /var/external rw,relatime shared:20 - ext4 /dev/vda1 rw\n" +
		"41 22 254:1 / /var/with\\040space rw - ext4 /dev/vda1 rw\n" +
		"42 22 254:16 / /var/b rw master:3 - ext4 /dev/vdb rw\n" +
		"garbage\n"
	got, err := parseMountinfo(bufio.NewScanner(strings.NewReader(in)))
	want := map[string]string{"rootfs": "/", "/dev/vda1": "/var/external", "/dev/vdb": "/var/b"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseMountinfo: got %v, %v; want %v", got, err, want)
	}
	for in, want := range map[string]string{`/a\040b`: "/a b", `/a\\b`: `/a\\b`, `/x\04`: `/x\04`, `/t\011`: "/t\t"} {
		if got := unescapeOctal(in); got != want {
			t.Errorf("unescapeOctal(%q) = %q, want %q", in, got, want)
		}
	}
}
