package kmod

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestConfigParse(t *testing.T) {
	files := map[string]string{
		"10-net.conf":  "# comment\noptions net napi=1 \\\n  weight=64\nblacklist stray\nalias foo bar\ninstall x /bin/true\n",
		"20-more.conf": "options pci-bus msi=0\noptions net napi=2\n",
		"ignored.txt":  "blacklist net\n",
	}
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c, err := ReadConfig(dir, filepath.Join(dir, "missing"))
	if err != nil {
		t.Fatal(err)
	}
	c.AddCmdline(`quiet console=ttyS0 core.debug=1 blk.flag module_blacklist=evdev,cpufreq modprobe.blacklist=gone -- net.ignored=1`)
	wantOpts := map[string][]string{
		"net":     {"napi=1", "weight=64", "napi=2"},
		"pci_bus": {"msi=0"},
		"core":    {"debug=1"},
		"blk":     {"flag"},
	}
	if !reflect.DeepEqual(c.Options, wantOpts) {
		t.Errorf("options: got %v, want %v", c.Options, wantOpts)
	}
	wantBL := map[string]bool{"stray": true, "evdev": true, "cpufreq": true, "gone": true}
	if !reflect.DeepEqual(c.Blacklist, wantBL) {
		t.Errorf("blacklist: got %v, want %v", c.Blacklist, wantBL)
	}
}

func TestLoaderUsesConfig(t *testing.T) {
	tests := []struct {
		name      string
		conf      string
		cmdline   string
		load      func(l *Loader) error
		wantCalls []string
	}{
		{"options for module and deps", "options net napi=1\noptions ring size=4", "",
			func(l *Loader) error { return l.Load("net", "") }, []string{"ring size=4", "core", "net napi=1"}},
		{"explicit params come last", "options net napi=1", "net.weight=3",
			func(l *Loader) error { return l.Load("net", "napi=2") }, []string{"ring", "core", "net napi=1 weight=3 napi=2"}},
		{"blacklist stops alias loads", "blacklist blk", "",
			func(l *Loader) error { _, err := l.LoadAlias("virtio:d00000002v00001AF4"); return err }, nil},
		{"blacklist does not stop loads by name", "blacklist blk", "",
			func(l *Loader) error { return l.Load("blk", "") }, []string{"ring", "blk"}},
		{"cmdline blacklist", "", "module_blacklist=net",
			func(l *Loader) error { _, err := l.LoadAlias("virtio:d00000001v00001AF4"); return err }, nil},
	}
	dir := testTree(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := &fakeSys{}
			l, err := NewLoader(dir, sys)
			if err != nil {
				t.Fatal(err)
			}
			c := &Config{}
			c.Parse(tt.conf)
			c.AddCmdline(tt.cmdline)
			l.SetConfig(c)
			if err := tt.load(l); err != nil {
				t.Fatalf("load: %v", err)
			}
			if !reflect.DeepEqual(sys.calls, tt.wantCalls) {
				t.Errorf("calls: got %v, want %v", sys.calls, tt.wantCalls)
			}
		})
	}
}

func TestLoaderBlacklisted(t *testing.T) {
	l, err := NewLoader(testTree(t), &fakeSys{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Blacklisted("blk") {
		t.Error("Blacklisted(blk) with no configuration: got true, want false")
	}
	c := &Config{}
	c.Parse("blacklist blk")
	c.AddCmdline("quiet modprobe.blacklist=ata_piix,ata-generic")
	l.SetConfig(c)
	for _, tc := range []struct {
		module string
		want   bool
	}{
		{"blk", true},
		{"ata_piix", true},
		{"ata_generic", true}, // the command line's dash and the name's underscore are one module
		{"ata-piix", true},
		{"net", false},
	} {
		if got := l.Blacklisted(tc.module); got != tc.want {
			t.Errorf("Blacklisted(%s): got %v, want %v", tc.module, got, tc.want)
		}
	}
}
