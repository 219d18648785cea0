package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/diskfs/go-diskfs/partition/mbr"
)

const mib = 1 << 20

func diskFile(t *testing.T, size int64) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "disk"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestGrowMBR(t *testing.T) {
	tests := []struct {
		name     string
		parts    []*mbr.Partition
		grownTo  int64
		want     growth
		wantSkip string
	}{
		{"one Linux partition", []*mbr.Partition{{Type: mbr.Linux, Start: 2048, Size: 30 * 2048}}, 64 * mib,
			growth{"dos", 1, 30 * 2048, 63 * 2048}, ""},
		{"not grown", []*mbr.Partition{{Type: mbr.Linux, Start: 2048, Size: 31 * 2048}}, 32 * mib, growth{}, "no free space"},
		{"two partitions", []*mbr.Partition{{Type: mbr.Linux, Start: 2048, Size: 2048}, {Type: mbr.Linux, Start: 4096, Size: 2048}}, 64 * mib,
			growth{}, "2 partitions"},
		{"FAT partition", []*mbr.Partition{{Type: mbr.Fat32LBA, Start: 2048, Size: 2048}}, 64 * mib, growth{}, "not Linux"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := diskFile(t, 32*mib)
			tbl := &mbr.Table{LogicalSectorSize: sector, PhysicalSectorSize: sector, Partitions: tt.parts}
			if err := tbl.Write(f, 32*mib); err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(tt.grownTo); err != nil {
				t.Fatal(err)
			}
			dry, err := grow(f, false)
			checkSkip(t, err, tt.wantSkip)
			if tt.wantSkip != "" {
				return
			}
			got, err := grow(f, true)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || dry != tt.want {
				t.Errorf("got %+v (dry run %+v), want %+v", got, dry, tt.want)
			}
			back, err := mbr.Read(f, sector, sector)
			if err != nil {
				t.Fatal(err)
			}
			if p := back.Partitions[0]; p.Start != 2048 || uint64(p.Size) != tt.want.to || p.Type != mbr.Linux {
				t.Errorf("the table now says start %d size %d type %v, want 2048 %d Linux", p.Start, p.Size, p.Type, tt.want.to)
			}
			// Done once, a second run finds nothing to do.
			_, err = grow(f, true)
			checkSkip(t, err, "no free space")
		})
	}
}

func TestGrowGPT(t *testing.T) {
	f := diskFile(t, 32*mib)
	tbl := &gpt.Table{LogicalSectorSize: sector, PhysicalSectorSize: sector, ProtectiveMBR: true,
		Partitions: []*gpt.Partition{{Index: 1, Start: 2048, End: 30*2048 - 1, Type: gpt.LinuxFilesystem, Name: "keel"}}}
	if err := tbl.Write(f, 32*mib); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 * mib); err != nil {
		t.Fatal(err)
	}
	got, err := grow(f, true)
	if err != nil {
		t.Fatal(err)
	}
	// The last MiB holds the backup table: the partition ends before it.
	want := growth{"gpt", 1, 29 * 2048, 62 * 2048}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	back, err := gpt.Read(f, sector, sector)
	if err != nil {
		t.Fatalf("reading the grown table: %v", err)
	}
	if err := back.Verify(f, 64*mib); err != nil {
		t.Errorf("the grown table does not verify against the disk's new size: %v", err)
	}
	if p := back.Partitions[0]; p.Start != 2048 || p.End != 63*2048-1 {
		t.Errorf("partition 1 spans %d-%d, want 2048-%d", p.Start, p.End, 63*2048-1)
	}
}

func TestGrowNoTable(t *testing.T) {
	_, err := grow(diskFile(t, 8*mib), false)
	checkSkip(t, err, "no partition table")
}

func checkSkip(t *testing.T, err error, want string) {
	t.Helper()
	var skip errNothingToDo
	if want == "" {
		if err != nil {
			t.Fatalf("got %v, want no error", err)
		}
		return
	}
	if !errors.As(err, &skip) || !strings.Contains(err.Error(), want) {
		t.Fatalf("got %v, want a reason to leave the disk alone containing %q", err, want)
	}
}

// fakeRunner answers e2fsck with the exit codes in codes, in turn.
type fakeRunner struct {
	codes []int
	calls []string
}

func (r *fakeRunner) run(name string, args ...string) (int, string, error) {
	r.calls = append(r.calls, name+" "+strings.Join(args, " "))
	c := r.codes[0]
	r.codes = r.codes[1:]
	return c, "", nil
}

func TestE2fsck(t *testing.T) {
	tests := []struct {
		codes     []int
		wantErr   string
		wantCalls int
	}{
		{[]int{0}, "", 1},
		{[]int{1}, "", 1},
		{[]int{2}, "reboot", 1},
		{[]int{4, 1}, "", 2},
		{[]int{4, 8}, "exit 8", 2},
	}
	for _, tt := range tests {
		r := &fakeRunner{codes: tt.codes}
		err := e2fsck(r, "/dev/vda1")
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("exit codes %v: got %v, want error %q", tt.codes, err, tt.wantErr)
		}
		if len(r.calls) != tt.wantCalls || r.calls[0] != "e2fsck -p -f /dev/vda1" {
			t.Errorf("exit codes %v: got calls %q, want %d starting with e2fsck -p -f", tt.codes, r.calls, tt.wantCalls)
		}
	}
}
