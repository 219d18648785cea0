package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/keel-os/keel/internal/blockdev"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args []string
		want options
		err  string
	}{
		{nil, options{fsType: "ext4", partition: "dos"}, ""},
		{[]string{"-type", "ext4", "-label", "DATA", "-partition", "gpt", "-verbose", "/dev/vdb"},
			options{fsType: "ext4", label: "DATA", partition: "gpt", verbose: true, device: "/dev/vdb"}, ""},
		{[]string{"-force", "/dev/vda"}, options{fsType: "ext4", partition: "dos", force: true, device: "/dev/vda"}, ""},
		{[]string{"-type", "xfs"}, options{}, "-type xfs is not supported"},
		{[]string{"-type", "btrfs"}, options{}, "-type btrfs is not supported"},
		{[]string{"-type", "zfs"}, options{}, "use ext4"},
		{[]string{"-partition", "apm"}, options{}, "want dos or gpt"},
		{[]string{"-force"}, options{}, "-force needs a DEVICE"},
		{[]string{"/dev/vda", "/dev/vdb"}, options{}, "too many arguments"},
		{[]string{"-label", "a-label-of-17-chr"}, options{}, "16 bytes"},
		{[]string{"-size", "1G"}, options{}, "flag provided but not defined"},
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

// fakeEnv is a machine of listed devices whose content is given by path.
type fakeEnv struct {
	devs      []blockdev.Device
	content   map[string]string
	formatted []string
	logs      []string
}

func (f *fakeEnv) Devices() ([]blockdev.Device, error) { return f.devs, nil }
func (f *fakeEnv) Describe(p string) (string, error)   { return f.content[p], nil }
func (f *fakeEnv) Format(d blockdev.Device, o options) error {
	f.formatted = append(f.formatted, d.Path)
	return nil
}
func (f *fakeEnv) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}
func (f *fakeEnv) Debugf(format string, args ...any) {}

func disk(name string) blockdev.Device {
	return blockdev.Device{Name: name, Path: "/dev/" + name, Disk: true, Size: 1 << 30}
}

func part(parent string, n int) blockdev.Device {
	name := fmt.Sprintf("%s%d", parent, n)
	return blockdev.Device{Name: name, Path: "/dev/" + name, Parent: parent, PartN: n, Size: 1 << 29}
}

func TestRun(t *testing.T) {
	ro := disk("vdc")
	ro.ReadOnly = true
	formatted := map[string]string{"/dev/vda": "an MBR partition table or a boot sector", "/dev/vda1": "an ext4 filesystem"}
	tests := []struct {
		name    string
		device  string
		force   bool
		devs    []blockdev.Device
		content map[string]string
		want    []string // formatted disks
		log     string
		err     string
	}{
		{"first empty disk", "", false, []blockdev.Device{disk("loop0"), disk("vda"), disk("vdb")},
			map[string]string{"/dev/vda": "data"}, []string{"/dev/vdb"}, "/dev/vda holds data: leaving it alone", ""},
		{"skips read-only and virtual", "", false, []blockdev.Device{disk("loop0"), disk("zram0"), ro, disk("vdd")},
			nil, []string{"/dev/vdd"}, "", ""},
		{"formatted before", "", false, []blockdev.Device{disk("vda"), part("vda", 1)}, formatted,
			nil, "/dev/vda holds an MBR partition table or a boot sector; vda1 holds an ext4 filesystem: leaving it alone", ""},
		{"no disk", "", false, []blockdev.Device{disk("loop0"), disk("sr0")}, nil, nil, "", "no disk to format"},
		{"named empty disk", "/dev/vdb", false, []blockdev.Device{disk("vda"), disk("vdb")},
			map[string]string{"/dev/vda": "data"}, []string{"/dev/vdb"}, "", ""},
		{"named by kernel name", "vdb", false, []blockdev.Device{disk("vdb")}, nil, []string{"/dev/vdb"}, "", ""},
		{"named and formatted before", "/dev/vda", false, []blockdev.Device{disk("vda"), part("vda", 1)}, formatted,
			nil, "already formatted", ""},
		{"named with data", "/dev/vda", false, []blockdev.Device{disk("vda")}, map[string]string{"/dev/vda": "an XFS filesystem"},
			nil, "", "holds an XFS filesystem: pass -force"},
		{"named with another filesystem in the partition", "/dev/vda", false, []blockdev.Device{disk("vda"), part("vda", 1)},
			map[string]string{"/dev/vda": "a GPT partition table", "/dev/vda1": "a swap area"}, nil, "", "vda1 holds a swap area: pass -force"},
		{"forced", "/dev/vda", true, []blockdev.Device{disk("vda"), part("vda", 1)}, formatted, []string{"/dev/vda"}, "erasing", ""},
		{"partition named", "/dev/vda1", false, []blockdev.Device{disk("vda"), part("vda", 1)}, nil, nil, "", "is a partition"},
		{"read-only named", "/dev/vdc", true, []blockdev.Device{ro}, nil, nil, "", "read-only"},
		{"unknown device", "/dev/sdz", false, []blockdev.Device{disk("vda")}, nil, nil, "", "no block device /dev/sdz (devices: vda)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := &fakeEnv{devs: tc.devs, content: tc.content}
			err := run(options{fsType: "ext4", partition: "dos", device: tc.device, force: tc.force}, e)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("got error %v, want one containing %q", err, tc.err)
				}
			} else if err != nil {
				t.Errorf("got error %v", err)
			}
			if !reflect.DeepEqual(e.formatted, tc.want) {
				t.Errorf("formatted %q, want %q", e.formatted, tc.want)
			}
			if logs := strings.Join(e.logs, "\n"); !strings.Contains(logs, tc.log) {
				t.Errorf("log %q, want it to contain %q", logs, tc.log)
			}
		})
	}
}

func TestWriteTable(t *testing.T) {
	const size = 64 << 20
	for _, kind := range []string{"dos", "gpt"} {
		t.Run(kind, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "disk"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Old content at both ends must not survive.
			stale := []int64{300000, size - 300000}
			for _, off := range stale {
				if _, err := f.WriteAt([]byte{0x53, 0xef}, off); err != nil {
					t.Fatal(err)
				}
			}
			if err := writeTable(f, size, kind); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 1024)
			if _, err := f.ReadAt(b, 0); err != nil {
				t.Fatal(err)
			}
			if b[510] != 0x55 || b[511] != 0xaa {
				t.Fatalf("no boot signature at 510: got %x", b[510:512])
			}
			entry := b[446:462]
			start, count := binary.LittleEndian.Uint32(entry[8:]), binary.LittleEndian.Uint32(entry[12:])
			switch kind {
			case "dos":
				if entry[4] != 0x83 || start != firstSector || count != size/sector-firstSector {
					t.Errorf("MBR entry: type %#x start %d sectors %d; want 0x83 %d %d", entry[4], start, count, firstSector, size/sector-firstSector)
				}
			case "gpt":
				if entry[4] != 0xee {
					t.Errorf("protective MBR type %#x, want 0xee", entry[4])
				}
				tbl, err := gpt.Read(f, sector, sector)
				if err != nil {
					t.Fatalf("reading the GPT back: %v", err)
				}
				p := tbl.Partitions[0]
				if p.Start != firstSector || p.End >= size/sector-34 || p.End < size/sector-34-firstSector || p.Type != gpt.LinuxFilesystem {
					t.Errorf("GPT partition %d..%d type %s; want %d..(last usable sector, MiB aligned) Linux filesystem", p.Start, p.End, p.Type, firstSector)
				}
			}
			for _, off := range stale {
				old := make([]byte, 2)
				if _, err := f.ReadAt(old, off); err != nil || old[0] != 0 {
					t.Errorf("old content at %d survived: %x", off, old)
				}
			}
		})
	}
	if err := writeTable(nil, 1<<20, "dos"); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Errorf("tiny disk: got %v, want a size error", err)
	}
}
