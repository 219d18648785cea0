package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	tests := []struct {
		args    []string
		want    options
		wantErr string
	}{
		{[]string{"crypt_dev", "/dev/sda1"}, options{keyFile: "key", name: "crypt_dev", device: "/dev/sda1"}, ""},
		{[]string{"-l", "crypt_dev", "/dev/sda1"}, options{luks: true, keyFile: "key", name: "crypt_dev", device: "/dev/sda1"}, ""},
		{[]string{"--luks", "--key-file", "/k", "c", "/dev/vdb"}, options{luks: true, keyFile: "/k", name: "c", device: "/dev/vdb"}, ""},
		{[]string{"-lk", "other", "c", "/dev/vdb"}, options{luks: true, keyFile: "other", name: "c", device: "/dev/vdb"}, ""},
		{[]string{"-kother", "c", "/dev/vdb", "-l"}, options{luks: true, keyFile: "other", name: "c", device: "/dev/vdb"}, ""},
		{[]string{"--key-file=x", "--", "c", "/dev/vdb"}, options{keyFile: "x", name: "c", device: "/dev/vdb"}, ""},
		{[]string{"-h"}, options{keyFile: "key", help: true}, ""},
		{nil, options{}, "missing argument <dm_name>"},
		{[]string{"c"}, options{}, "missing argument <device>"},
		{[]string{"c", "/dev/a", "/dev/b"}, options{}, "unexpected argument"},
		{[]string{"-x", "c", "/dev/a"}, options{}, "unknown option -x"},
		{[]string{"--cipher", "c", "/dev/a"}, options{}, "unknown option --cipher"},
		{[]string{"-k"}, options{}, "needs a value"},
		{[]string{"--luks=yes", "c", "/dev/a"}, options{}, "takes no value"},
		{[]string{"../x", "/dev/a"}, options{}, "without a slash"},
		{[]string{"c", "sda"}, options{}, "want a path"},
	}
	for _, tt := range tests {
		got, err := parseArgs(tt.args)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: got error %v, want one containing %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if got != tt.want {
			t.Errorf("%q: got %+v, want %+v", tt.args, got, tt.want)
		}
	}
}

func TestProbe(t *testing.T) {
	at := func(off int, magic string) []byte {
		b := make([]byte, probeLen)
		copy(b[off:], magic)
		return b
	}
	tests := []struct {
		name string
		head []byte
		want string
	}{
		{"zeros", make([]byte, probeLen), ""},
		{"ext4", at(1080, "\x53\xef"), "ext4"},
		{"xfs", at(0, "XFSB"), "xfs"},
		{"btrfs", at(65600, "_BHRfS_M"), "btrfs"},
		{"luks", at(0, "LUKS\xba\xbe"), "luks"},
		{"short device", []byte("XF"), ""},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		if got := probe(tt.head); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// fakeRunner records commands and fails those whose joined form starts
// with a key of fail.
type fakeRunner struct {
	calls []string
	fail  map[string]bool
}

func (f *fakeRunner) run(name string, args ...string) ([]byte, error) {
	c := strings.Join(append([]string{name}, args...), " ")
	f.calls = append(f.calls, c)
	for k := range f.fail {
		if strings.HasPrefix(c, k) {
			return nil, errors.New("exit status 1")
		}
	}
	return nil, nil
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("abcdefghijklmnopqrstuvwxyz123456"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := dir + "/mapper/c"
	tests := []struct {
		name      string
		luks      bool
		fail      map[string]bool
		fs        string
		wantCalls []string
		wantZero  bool
	}{
		{"new LUKS volume", true, map[string]bool{"cryptsetup isLuks": true}, "", []string{
			"cryptsetup isLuks /dev/vdb",
			"cryptsetup --batch-mode --key-file " + key + " --cipher aes-cbc-essiv:sha256 luksFormat /dev/vdb",
			"cryptsetup --disable-keyring --key-file " + key + " luksOpen /dev/vdb c",
			"mkfs.ext4 -q " + m,
		}, true},
		{"existing LUKS volume with ext4", true, nil, "ext4", []string{
			"cryptsetup isLuks /dev/vdb",
			"cryptsetup --disable-keyring --key-file " + key + " luksOpen /dev/vdb c",
		}, false},
		{"plain volume", false, nil, "", []string{
			"cryptsetup --key-file " + key + " --cipher aes-cbc-essiv:sha256 create c /dev/vdb",
			"mkfs.ext4 -q " + m,
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &fakeRunner{fail: tt.fail}
			zeroed := ""
			sys := system{runner: r, lockDir: filepath.Join(dir, "lock"), mapperDir: dir + "/mapper",
				probe: func(string) (string, error) { return tt.fs, nil },
				zero:  func(p string) error { zeroed = p; return nil }}
			err := run(options{luks: tt.luks, keyFile: key, name: "c", device: "/dev/vdb"}, sys)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.calls, tt.wantCalls) {
				t.Errorf("got commands\n%s\nwant\n%s", strings.Join(r.calls, "\n"), strings.Join(tt.wantCalls, "\n"))
			}
			if (zeroed != "") != tt.wantZero {
				t.Errorf("got zeroed %q, want zeroing %v", zeroed, tt.wantZero)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	dir := t.TempDir()
	sys := system{runner: &fakeRunner{}, lockDir: dir, mapperDir: dir,
		probe: func(string) (string, error) { return "", nil }, zero: func(string) error { return nil }}
	err := run(options{keyFile: filepath.Join(dir, "nokey"), name: "c", device: "/dev/vdb"}, sys)
	if err == nil || !strings.Contains(err.Error(), "no key file") {
		t.Errorf("missing key: got %v, want an error naming the key file", err)
	}
	key := filepath.Join(dir, "key")
	os.WriteFile(key, []byte("k"), 0o600)
	sys.runner = &fakeRunner{fail: map[string]bool{"cryptsetup --disable-keyring": true}}
	if err := run(options{luks: true, keyFile: key, name: "c", device: "/dev/vdb"}, sys); err == nil {
		t.Error("a failing luksOpen: got no error, want one")
	}
}

func TestZero(t *testing.T) {
	f := filepath.Join(t.TempDir(), "dev")
	if err := os.WriteFile(f, []byte(strings.Repeat("x", 3<<20+5)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := zero(f); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(f)
	if len(b) != 3<<20+5 || strings.Trim(string(b), "\x00") != "" {
		t.Errorf("got %d bytes, not all zero; want 3 MiB + 5 zeros", len(b))
	}
	if got, err := probeFile(f); err != nil || got != "" {
		t.Errorf("probe of zeros: got %q, %v; want \"\", nil", got, err)
	}
}
