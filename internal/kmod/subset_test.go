package kmod

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestClosure(t *testing.T) {
	_, deps, err := ParseDep("a.ko: b.ko c.ko\nb.ko: c.ko\nc.ko:\nd.ko: e.ko\ne.ko:\nf-g.ko:\n")
	if err != nil {
		t.Fatal(err)
	}
	// A hand-written modules.dep whose lines are not whole closures.
	_, partial, err := ParseDep("a.ko: b.ko\nb.ko: c.ko\nc.ko:\n")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		want []string
		deps map[string][]string
		got  []string
	}{
		{"whole closure", []string{"a"}, deps, []string{"a", "b", "c"}},
		{"several", []string{"b", "d"}, deps, []string{"b", "c", "d", "e"}},
		{"dash is underscore", []string{"f-g"}, deps, []string{"f_g"}},
		{"unknown left out", []string{"zz"}, deps, []string{}},
		{"partial lines followed", []string{"a"}, partial, []string{"a", "b", "c"}},
	}
	for _, tt := range tests {
		if got := SortedNames(Closure(tt.want, tt.deps)); !reflect.DeepEqual(got, tt.got) {
			t.Errorf("%s: Closure(%v): got %v, want %v", tt.name, tt.want, got, tt.got)
		}
	}
}

// subsetTree is testTree with only keep (and what it needs) indexed, as
// the packer writes it, and the rest listed in OmittedFile.
func subsetTree(t *testing.T, keep ...string) string {
	dir := testTree(t)
	dep, err := os.ReadFile(filepath.Join(dir, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	alias, err := os.ReadFile(filepath.Join(dir, "modules.alias"))
	if err != nil {
		t.Fatal(err)
	}
	_, deps, err := ParseDep(string(dep))
	if err != nil {
		t.Fatal(err)
	}
	s, err := SubsetIndex(string(dep), string(alias), Closure(keep, deps))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "modules.dep"), string(s.Dep))
	writeFile(t, filepath.Join(dir, "modules.alias"), string(s.Alias))
	writeFile(t, filepath.Join(dir, OmittedFile), string(s.Omitted))
	return dir
}

func TestSubsetIndex(t *testing.T) {
	dir := subsetTree(t, "net", "pci_bus")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got, want := read("modules.dep"), "kernel/core.ko: kernel/ring.ko\nkernel/net.ko: kernel/core.ko kernel/ring.ko\nkernel/pci-bus.ko:\nkernel/ring.ko:\n"; got != want {
		t.Errorf("modules.dep: got\n%s\nwant\n%s", got, want)
	}
	if got, want := read("modules.alias"), "# Aliases extracted from modules themselves.\nalias virtio:d00000001v* net\nalias pci:v00001AF4d* pci_bus\n"; got != want {
		t.Errorf("modules.alias: got\n%s\nwant\n%s", got, want)
	}
	om := read(OmittedFile)
	for _, want := range []string{"module blk\n", "module evdev\n", "alias fs-blk blk\n", "alias input:b*v*p*e*-e* evdev\n"} {
		if !strings.Contains(om, want) {
			t.Errorf("%s: want a line %q, got\n%s", OmittedFile, want, om)
		}
	}
	for _, kept := range []string{"net", "core", "ring", "pci_bus"} {
		if strings.Contains(om, " "+kept+"\n") {
			t.Errorf("%s lists kept module %s:\n%s", OmittedFile, kept, om)
		}
	}

	// A set not closed under dependencies is a bug of the caller.
	if _, err := SubsetIndex(read("modules.dep"), "", map[string]bool{"net": true}); err == nil || !strings.Contains(err.Error(), "net needs") {
		t.Errorf("SubsetIndex(unclosed set): got %v, want an error saying net needs a dependency", err)
	}
}

func TestLoadOmitted(t *testing.T) {
	dir := subsetTree(t, "net", "pci_bus")
	tests := []struct {
		name, mod  string
		wantModule string // "" means not an OmittedError
	}{
		{"name", "blk", "blk"},
		{"alias", "fs-blk", "blk"},
		{"modalias", "virtio:d00000002v00001AF4", "blk"},
		{"not in the kernel at all", "nothere", ""},
	}
	for _, tt := range tests {
		sys := &fakeSys{}
		l, err := NewLoader(dir, sys)
		if err != nil {
			t.Fatal(err)
		}
		err = l.Load(tt.mod, "")
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: Load(%s): got %v, want ErrNotFound", tt.name, tt.mod, err)
		}
		oe, ok := IsOmitted(err)
		switch {
		case tt.wantModule == "" && ok:
			t.Errorf("%s: Load(%s): got %v, want no OmittedError", tt.name, tt.mod, err)
		case tt.wantModule != "" && (!ok || oe.Module != tt.wantModule):
			t.Errorf("%s: Load(%s): got %v, want an OmittedError for %s", tt.name, tt.mod, err, tt.wantModule)
		case ok && !strings.Contains(err.Error(), "kernel: modules: [blk]"):
			t.Errorf("%s: Load(%s): got %q, want it to say how to add the module", tt.name, tt.mod, err)
		}
		if len(sys.calls) != 0 {
			t.Errorf("%s: loaded %v, want nothing", tt.name, sys.calls)
		}
	}

	l, err := NewLoader(dir, &fakeSys{})
	if err != nil {
		t.Fatal(err)
	}
	if mods, err := l.LoadAlias("virtio:d00000002v00001AF4"); len(mods) != 0 || err == nil {
		t.Errorf("LoadAlias(omitted device): got %v, %v; want no module and an OmittedError", mods, err)
	} else if oe, ok := IsOmitted(err); !ok || oe.Module != "blk" || oe.For != "virtio:d00000002v00001AF4" {
		t.Errorf("LoadAlias(omitted device): got %v, want an OmittedError for blk", err)
	}
	if _, err := l.LoadAlias("pci:v00008086d00001234"); err != nil {
		t.Errorf("LoadAlias(device no module drives): got %v, want no error", err)
	}

	// A blacklisted module is not reported missing.
	l.SetConfig(&Config{Blacklist: map[string]bool{"blk": true}})
	if _, err := l.LoadAlias("virtio:d00000002v00001AF4"); err != nil {
		t.Errorf("LoadAlias(blacklisted omitted module): got %v, want no error", err)
	}
}

func TestColdplugOmitted(t *testing.T) {
	sysRoot, sys := coldplugFixture(t)
	l, err := NewLoader(subsetTree(t, "net", "pci_bus", "broken"), sys)
	if err != nil {
		t.Fatal(err)
	}
	sum := l.Coldplug(sysRoot, ColdplugOptions{})
	if want := []string{"pci_bus", "ring", "core", "net"}; !reflect.DeepEqual(sum.Loaded, want) {
		t.Errorf("Loaded: got %v, want %v", sum.Loaded, want)
	}
	want := []OmittedError{
		{Module: "evdev", For: "input:b0011v0001p0001eAB41-e0,1,4,11,14,k71"},
		{Module: "blk", For: "virtio:d00000002v00001AF4"},
	}
	if !reflect.DeepEqual(sum.Omitted, want) {
		t.Errorf("Omitted: got %+v, want %+v", sum.Omitted, want)
	}
}
