package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args []string
		want options
		err  string
	}{
		{[]string{"--path", "/var/external/swap", "--size", "1G"}, options{path: "/var/external/swap", size: 1 << 30}, ""},
		{[]string{"--path=/var/s", "--size=256M", "--debug", "--label", "keel"}, options{path: "/var/s", size: 256 << 20, debug: true, label: "keel"}, ""},
		{[]string{"--path", "/var/s", "--size", "8765432", "--condition", "part:/var/external", "--condition", "partsize:/var/external:10G:true"},
			options{path: "/var/s", size: 8765432, conditions: []condition{{kind: "part", path: "/var/external"}, {kind: "partsize", path: "/var/external", size: 10 << 30, required: true}}}, ""},
		{[]string{"--path", "/var/s", "--size", "5670K", "--condition", "size:/var:1M:false", "--condition", "part:/var:true"},
			options{path: "/var/s", size: 5670 << 10, conditions: []condition{{kind: "partsize", path: "/var", size: 1 << 20}, {kind: "part", path: "/var", required: true}}}, ""},
		{[]string{"--path", "/var/s", "--size", "1G", "--encrypt"}, options{}, "--encrypt is not supported"},
		{[]string{"--size", "1G"}, options{}, "--path and --size are required"},
		{[]string{"--path", "/var/s"}, options{}, "--path and --size are required"},
		{[]string{"--path", "/swapfile", "--size", "1G"}, options{}, "below /var"},
		{[]string{"--path", "/var/../swap", "--size", "1G"}, options{}, "below /var"},
		{[]string{"--path", "/var/s", "--size", "1T"}, options{}, "want a positive number"},
		{[]string{"--path", "/var/s", "--size", "-1M"}, options{}, "want a positive number"},
		{[]string{"--path", "/var/s", "--size", "1G", "--condition", "disk:/dev/sda"}, options{}, "want part:PATH"},
		{[]string{"--path", "/var/s", "--size", "1G", "--condition", "part:/var:maybe"}, options{}, "true or false"},
		{[]string{"--path", "/var/s", "--size", "1G", "extra"}, options{}, "unexpected arguments"},
	}
	for _, tc := range tests {
		got, err := parseFlags(tc.args, io.Discard)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: got error %v, want one containing %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
}

func TestHeaderLayout(t *testing.T) {
	h, err := newHeader(256<<20, 4096, "keel")
	if err != nil {
		t.Fatal(err)
	}
	p := h.marshal()
	checks := []struct {
		what      string
		got, want any
	}{
		{"page length", len(p), 4096},
		{"signature", string(p[4086:]), "SWAPSPACE2"},
		{"version", binary.LittleEndian.Uint32(p[1024:]), uint32(1)},
		{"last page", binary.LittleEndian.Uint32(p[1028:]), uint32(65535)},
		{"bad pages", binary.LittleEndian.Uint32(p[1032:]), uint32(0)},
		{"uuid", string(p[1036:1052]), string(h.UUID[:])},
		{"label", string(p[1052:1068]), "keel" + strings.Repeat("\x00", 12)},
		{"boot block", bytes.Count(p[:1024], []byte{0}), 1024},
		{"uuid version", h.UUID[6] >> 4, byte(4)},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
		}
	}
	back, err := parseHeader(p)
	if err != nil || back != h {
		t.Errorf("parseHeader(marshal()): got %+v, %v; want %+v", back, err, h)
	}
	bad := []struct {
		size  int64
		label string
		want  string
	}{
		{9 * 4096, "", "too small"},
		{1 << 30, "a-label-of-17-chr", "longer than 16"},
	}
	for _, b := range bad {
		if _, err := newHeader(b.size, 4096, b.label); err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("newHeader(%d, %q): got %v, want an error containing %q", b.size, b.label, err, b.want)
		}
	}
	if _, err := parseHeader(make([]byte, 4096)); err == nil {
		t.Error("parseHeader of zeros: got no error")
	}
}

// TestHeaderMatchesMkswap writes the same swap area with mkswap and with
// marshal and compares the header pages byte for byte; swaplabel must read
// ours back.
func TestHeaderMatchesMkswap(t *testing.T) {
	mkswap, err := exec.LookPath("mkswap")
	if err != nil {
		t.Skip("needs mkswap (util-linux)")
	}
	for _, tc := range []struct {
		size  int64
		label string
	}{{1 << 20, ""}, {64 << 20, "keel-swap"}, {10*4096 + 100, "odd"}} {
		dir := t.TempDir()
		ref := filepath.Join(dir, "ref")
		if err := os.WriteFile(ref, make([]byte, tc.size), 0o600); err != nil {
			t.Fatal(err)
		}
		h, err := newHeader(tc.size, 4096, tc.label)
		if err != nil {
			t.Fatal(err)
		}
		args := []string{"-q", "-p", "4096", "-U", h.uuidString()}
		if tc.label != "" {
			args = append(args, "-L", tc.label)
		}
		if out, err := exec.Command(mkswap, append(args, ref)...).CombinedOutput(); err != nil {
			t.Fatalf("mkswap: %v\n%s", err, out)
		}
		want := make([]byte, 4096)
		f, err := os.Open(ref)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadFull(f, want)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := h.marshal(); !bytes.Equal(got, want) {
			t.Errorf("size %d label %q: header differs from mkswap's\n got %x\nwant %x", tc.size, tc.label, got[1024:1068], want[1024:1068])
		}

		ours := filepath.Join(dir, "ours")
		if err := makeSwapFile(ours, tc.size, tc.label, 4096, t.Logf); err != nil {
			t.Fatal(err)
		}
		if sl, err := exec.LookPath("swaplabel"); err == nil {
			out, err := exec.Command(sl, ours).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "UUID:") || (tc.label != "" && !strings.Contains(string(out), "LABEL: "+tc.label)) {
				t.Errorf("swaplabel on our file: %v\n%s", err, out)
			}
		}
	}
}

func TestMakeSwapFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "swap")
	if err := os.WriteFile(p, []byte("old content"), 0o644); err != nil {
		t.Fatal(err)
	}
	const size = 2 << 20
	if err := makeSwapFile(p, size, "", 4096, t.Logf); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != size || st.Mode().Perm() != 0o600 {
		t.Errorf("swap file: %d bytes mode %o, want %d 0600", st.Size(), st.Mode().Perm(), size)
	}
	first, err := readHeader(p)
	if err != nil || first.LastPage != size/4096-1 {
		t.Fatalf("header: %+v, %v; want last page %d", first, err, size/4096-1)
	}
	// Same size again: the area (and its UUID) is kept.
	if err := makeSwapFile(p, size, "", 4096, t.Logf); err != nil {
		t.Fatal(err)
	}
	if again, _ := readHeader(p); again.UUID != first.UUID {
		t.Error("a second run with the same size rewrote the swap area")
	}
	// Another size: made anew.
	if err := makeSwapFile(p, 2*size, "", 4096, t.Logf); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(p); st.Size() != 2*size {
		t.Errorf("resized swap file has %d bytes, want %d", st.Size(), 2*size)
	}
	if err := makeSwapFile(filepath.Join(dir, "no", "swap"), size, "", 4096, t.Logf); err == nil || !strings.Contains(err.Error(), "mount a disk there first") {
		t.Errorf("missing directory: got %v", err)
	}
}

type fakeEnv struct {
	active  []string
	mounts  map[string]bool
	sizes   map[string]int64
	swapped []string
	logs    []string
}

func (f *fakeEnv) Active() ([]string, error)           { return f.active, nil }
func (f *fakeEnv) IsMountPoint(p string) (bool, error) { return f.mounts[p], nil }
func (f *fakeEnv) FSSize(p string) (int64, error)      { return f.sizes[p], nil }
func (f *fakeEnv) PageSize() int                       { return 4096 }
func (f *fakeEnv) Swapon(p string) error               { f.swapped = append(f.swapped, p); return nil }
func (f *fakeEnv) Logf(format string, args ...any) {
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}
func (f *fakeEnv) Debugf(format string, args ...any) {}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "swap")
	mounted := map[string]bool{dir: true}
	tests := []struct {
		name   string
		conds  []condition
		active []string
		mounts map[string]bool
		swaps  bool
		log    string
		err    string
	}{
		{"no conditions", nil, nil, nil, true, "swap on", ""},
		{"mounted", []condition{{kind: "part", path: dir}}, nil, mounted, true, "", ""},
		{"not mounted", []condition{{kind: "part", path: dir}}, nil, nil, false, "is not a mount point", ""},
		{"not mounted, required", []condition{{kind: "part", path: dir, required: true}}, nil, nil, false, "", "required condition not met"},
		{"big enough", []condition{{kind: "partsize", path: dir, size: 1 << 30}}, nil, nil, true, "", ""},
		{"too small", []condition{{kind: "partsize", path: dir, size: 2 << 30}}, nil, nil, false, "fewer than", ""},
		{"already in use", nil, []string{p}, nil, false, "already in use", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(p)
			e := &fakeEnv{active: tc.active, mounts: tc.mounts, sizes: map[string]int64{dir: 1 << 30}}
			err := run(options{path: p, size: 1 << 20, conditions: tc.conds}, e)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("got error %v, want one containing %q", err, tc.err)
				}
			} else if err != nil {
				t.Errorf("got error %v", err)
			}
			if got := len(e.swapped) == 1; got != tc.swaps {
				t.Errorf("swapon called %d times, want swap %v", len(e.swapped), tc.swaps)
			}
			if _, err := os.Stat(p); (err == nil) != tc.swaps {
				t.Errorf("swap file exists: %v, want %v", err == nil, tc.swaps)
			}
			if logs := strings.Join(e.logs, "\n"); !strings.Contains(logs, tc.log) {
				t.Errorf("log %q, want it to contain %q", logs, tc.log)
			}
		})
	}
}

func TestParseProcSwaps(t *testing.T) {
	in := "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/var/external/swap                      file\t\t262140\t\t0\t\t-2\n/dev/vdb2 partition 1024 0 -3\n"
	got, err := parseProcSwaps(strings.NewReader(in))
	if want := []string{"/var/external/swap", "/dev/vdb2"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
}
