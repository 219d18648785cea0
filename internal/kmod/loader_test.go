package kmod

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// fakeSys records loads by module name and fails those in fail.
type fakeSys struct {
	mu     sync.Mutex        // Coldplug loads from several goroutines
	calls  []string          // "name" or "name params"
	fail   map[string]error  // module name -> error to return
	onLoad map[string]func() // module name -> side effect (e.g. new devices)
}

func (f *fakeSys) name(fd int) string {
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "?" + err.Error()
	}
	return NameFromPath(p)
}

func (f *fakeSys) record(name, params string) error {
	f.mu.Lock()
	if params != "" {
		f.calls = append(f.calls, name+" "+params)
	} else {
		f.calls = append(f.calls, name)
	}
	fn, err := f.onLoad[name], f.fail[name]
	f.mu.Unlock()
	if fn != nil {
		fn()
	}
	return err
}

func (f *fakeSys) FinitModule(fd int, params string, flags int) error {
	return f.record(f.name(fd), params)
}

func (f *fakeSys) InitModule(image []byte, params string) error {
	mi, err := ParseModinfo(image)
	if err != nil {
		return err
	}
	return f.record(mi.Name, params)
}

// testTree writes a small module tree with its index and returns its path.
//
//	net -> ring, core ; core -> ring ; pci (bus) ; blk -> ring ; broken -> missingdep
func testTree(t *testing.T) string {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "modules.builtin"), "kernel/builtin-one.ko\n")
	writeModule(t, dir, "kernel/net.ko", "name=net", "depends=core,ring", "alias=virtio:d00000001v*")
	writeModule(t, dir, "kernel/core.ko", "name=core", "depends=ring")
	writeModule(t, dir, "kernel/ring.ko", "name=ring", "depends=")
	writeModule(t, dir, "kernel/pci-bus.ko", "name=pci_bus", "depends=", "alias=pci:v00001AF4d*")
	writeModule(t, dir, "kernel/blk.ko", "name=blk", "depends=ring", "alias=virtio:d00000002v*", "alias=fs-blk")
	writeModule(t, dir, "kernel/broken.ko", "name=broken", "depends=gone", "alias=virtio:d00000003v*")
	writeModule(t, dir, "kernel/gone.ko", "name=gone", "depends=")
	writeModule(t, dir, "kernel/stray.ko", "name=stray", "depends=", "alias=stray:*")
	writeModule(t, dir, "kernel/evdev.ko", "name=evdev", "depends=", "alias=input:b*v*p*e*-e*")
	writeModule(t, dir, "kernel/cpufreq.ko", "name=cpufreq", "depends=", "alias=cpu:type:x86,ven*fam*mod*:feature:*0001*")
	if err := WriteIndex(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name, mod, params string
		fail              map[string]error
		wantCalls         []string
		wantErr           error
	}{
		{"deps first", "net", "", nil, []string{"ring", "core", "net"}, nil},
		{"params only on named module", "net", "napi=1", nil, []string{"ring", "core", "net napi=1"}, nil},
		{"dash equals underscore", "pci-bus", "", nil, []string{"pci_bus"}, nil},
		{"builtin is loaded", "builtin_one", "", nil, nil, nil},
		{"alias name", "fs-blk", "", nil, []string{"ring", "blk"}, nil},
		{"already loaded", "core", "", map[string]error{"core": unix.EEXIST}, []string{"ring", "core"}, nil},
		{"missing", "nothere", "", nil, nil, ErrNotFound},
		{"dependency fails", "broken", "", map[string]error{"gone": unix.ENOEXEC}, []string{"gone"}, unix.ENOEXEC},
	}
	dir := testTree(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sys := &fakeSys{fail: tt.fail}
			l, err := NewLoader(dir, sys)
			if err != nil {
				t.Fatal(err)
			}
			err = l.Load(tt.mod, tt.params)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Load: got error %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(sys.calls, tt.wantCalls) {
				t.Errorf("calls: got %v, want %v", sys.calls, tt.wantCalls)
			}
		})
	}
}

func TestLoadRemembers(t *testing.T) {
	sys := &fakeSys{fail: map[string]error{"gone": unix.ENOEXEC}}
	l, err := NewLoader(testTree(t), sys)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"net", "blk", "net", "broken", "broken"} {
		l.Load(m, "")
	}
	if want := []string{"ring", "core", "net", "blk", "gone"}; !reflect.DeepEqual(sys.calls, want) {
		t.Errorf("calls: got %v, want %v (each module tried once)", sys.calls, want)
	}
	if want := []string{"ring", "core", "net", "blk"}; !reflect.DeepEqual(l.Loaded(), want) {
		t.Errorf("Loaded: got %v, want %v", l.Loaded(), want)
	}
}

func TestLoadAlias(t *testing.T) {
	sys := &fakeSys{}
	l, err := NewLoader(testTree(t), sys)
	if err != nil {
		t.Fatal(err)
	}
	mods, err := l.LoadAlias("virtio:d00000002v00001AF4")
	if err != nil || !reflect.DeepEqual(mods, []string{"blk"}) {
		t.Errorf("LoadAlias: got %v, %v, want [blk], nil", mods, err)
	}
	mods, err = l.LoadAlias("usb:v1234p5678")
	if err != nil || len(mods) != 0 {
		t.Errorf("LoadAlias(no match): got %v, %v, want none, nil", mods, err)
	}
}

func TestNewLoaderMissingIndex(t *testing.T) {
	_, err := NewLoader(t.TempDir(), &fakeSys{})
	if !IsNotExist(err) {
		t.Errorf("got %v, want an error IsNotExist recognises", err)
	}
}

// coldplugFixture makes a fake /sys and a fake kernel whose PCI bus driver
// adds two virtio devices when it loads.
func coldplugFixture(t *testing.T) (string, *fakeSys) {
	sysRoot := t.TempDir()
	// addDevice creates a device and its bus link, as sysfs shows them.
	addDevice := func(bus, rel, modalias string) {
		writeFile(t, filepath.Join(sysRoot, "devices", rel, "modalias"), modalias+"\n")
		link := filepath.Join(sysRoot, "bus", bus, "devices", filepath.Base(rel))
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(sysRoot, "devices", rel), link); err != nil {
			t.Fatal(err)
		}
	}
	addDevice("pci", "pci0000:00/0000:00:03.0", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00")
	addDevice("pci", "pci0000:00/0000:00:04.0", "pci:v00008086d00001234") // no driver
	addDevice("platform", "platform/serial8250", "platform:serial8250")   // no driver
	addDevice("virtio", "virtual/other", "virtio:d00000003v00001AF4")     // broken
	writeFile(t, filepath.Join(sysRoot, "devices/system/cpu/modalias"), "cpu:type:x86,ven0000fam0006mod0055:feature:,0001\n")
	// A class device (like input or DMI) counts; one sysfs lists nowhere does not.
	addClassDevice := func(class, rel, modalias string) {
		writeFile(t, filepath.Join(sysRoot, "devices", rel, "modalias"), modalias+"\n")
		link := filepath.Join(sysRoot, "class", class, filepath.Base(rel))
		os.MkdirAll(filepath.Dir(link), 0o755)
		if err := os.Symlink(filepath.Join(sysRoot, "devices", rel), link); err != nil {
			t.Fatal(err)
		}
	}
	addClassDevice("input", "platform/i8042/serio0/input/input0", "input:b0011v0001p0001eAB41-e0,1,4,11,14,k71")
	writeFile(t, filepath.Join(sysRoot, "devices/virtual/stray/modalias"), "stray:x\n")
	sys := &fakeSys{
		fail: map[string]error{"gone": unix.ENOEXEC, "cpufreq": unix.ENODEV},
		onLoad: map[string]func(){
			// The bus driver finds its PCI devices and adds virtio devices.
			"pci_bus": func() {
				addDevice("virtio", "pci0000:00/0000:00:03.0/virtio0", "virtio:d00000001v00001AF4")
				addDevice("virtio", "pci0000:00/0000:00:05.0/virtio1", "virtio:d00000002v00001AF4")
			},
		},
	}
	return sysRoot, sys
}

func TestColdplug(t *testing.T) {
	for _, tc := range []struct {
		cpu          bool
		wantLoaded   []string
		wantNoDevice []string
		wantDevices  int
	}{
		{false, []string{"evdev", "pci_bus", "ring", "core", "net", "blk"}, nil, 7},
		{true, []string{"evdev", "pci_bus", "ring", "core", "net", "blk"}, []string{"cpufreq"}, 8},
	} {
		sysRoot, sys := coldplugFixture(t)
		l, err := NewLoader(testTree(t), sys)
		if err != nil {
			t.Fatal(err)
		}
		sum := l.Coldplug(sysRoot, ColdplugOptions{CPU: tc.cpu})
		if !reflect.DeepEqual(sum.Loaded, tc.wantLoaded) {
			t.Errorf("cpu=%v: Loaded: got %v, want %v", tc.cpu, sum.Loaded, tc.wantLoaded)
		}
		if len(sum.Failed) != 1 || sum.Failed[0].Module != "broken" || !errors.Is(sum.Failed[0].Err, unix.ENOEXEC) {
			t.Errorf("cpu=%v: Failed: got %v, want broken with ENOEXEC", tc.cpu, sum.Failed)
		}
		if !reflect.DeepEqual(sum.NoDevice, tc.wantNoDevice) {
			t.Errorf("cpu=%v: NoDevice: got %v, want %v", tc.cpu, sum.NoDevice, tc.wantNoDevice)
		}
		if sum.Devices != tc.wantDevices || sum.Passes != 2 {
			t.Errorf("cpu=%v: got %d devices in %d passes, want %d in 2", tc.cpu, sum.Devices, sum.Passes, tc.wantDevices)
		}
	}
}

// TestDebianLoadOrder loads virtio_net from the real Debian index (built in
// a temporary copy of the index files) through the fake kernel.
func TestDebianLoadOrder(t *testing.T) {
	debianModules := debianModules(t)
	dep, alias, _, err := buildIndex(debianModules)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "modules.dep"), string(dep))
	writeFile(t, filepath.Join(dir, "modules.alias"), string(alias))
	sys := &recordNames{}
	l, err := NewLoader(dir, sys)
	if err != nil {
		t.Fatal(err)
	}
	l.dir = debianModules // read module files from the real tree
	if got := l.Match("pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"); !reflect.DeepEqual(got, []string{"virtio_pci"}) {
		t.Errorf("Match(virtio PCI device): got %v, want [virtio_pci]", got)
	}
	if err := l.Load("virtio_net", ""); err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, n := range sys.names {
		pos[n] = i
	}
	for _, before := range [][2]string{{"virtio_ring", "virtio_net"}, {"virtio", "virtio_net"}, {"failover", "net_failover"}, {"net_failover", "virtio_net"}} {
		if pos[before[0]] >= pos[before[1]] {
			t.Errorf("load order %v: want %s before %s", sys.names, before[0], before[1])
		}
	}
	if got := strings.Join(sys.names, " "); !strings.HasSuffix(got, "virtio_net") {
		t.Errorf("load order %v: want virtio_net last", got)
	}
}

type recordNames struct{ names []string }

func (r *recordNames) FinitModule(fd int, params string, flags int) error {
	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return err
	}
	r.names = append(r.names, NameFromPath(p))
	return nil
}

func (r *recordNames) InitModule([]byte, string) error { return errors.New("unexpected InitModule") }

func TestLoadCompressed(t *testing.T) {
	dir := t.TempDir()
	enc, _ := zstd.NewWriter(nil)
	writeFile(t, filepath.Join(dir, "kernel/z.ko.zst"), string(enc.EncodeAll(fakeModule("name=z", "depends=plain"), nil)))
	writeModule(t, dir, "kernel/plain.ko", "name=plain", "depends=")
	if err := WriteIndex(dir); err != nil {
		t.Fatal(err)
	}
	sys := &fakeSys{}
	l, err := NewLoader(dir, sys)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Load("z", "p=1"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"plain", "z p=1"}; !reflect.DeepEqual(sys.calls, want) {
		t.Errorf("calls: got %v, want %v", sys.calls, want)
	}
}

// TestColdplugLoadsDevicesSideBySide: the modules of two devices load at
// the same time. Each fake insert waits for the other to begin, which a
// one-at-a-time coldplug would never let happen.
func TestColdplugLoadsDevicesSideBySide(t *testing.T) {
	sysRoot, sys := coldplugFixture(t)
	netIn, blkIn := make(chan struct{}), make(chan struct{})
	overlapped := map[string]bool{}
	var mu sync.Mutex
	meet := func(name string, mine, other chan struct{}) func() {
		return func() {
			close(mine)
			select {
			case <-other:
				mu.Lock()
				overlapped[name] = true
				mu.Unlock()
			case <-time.After(5 * time.Second):
			}
		}
	}
	sys.onLoad["net"] = meet("net", netIn, blkIn)
	sys.onLoad["blk"] = meet("blk", blkIn, netIn)
	l, err := NewLoader(testTree(t), sys)
	if err != nil {
		t.Fatal(err)
	}
	sum := l.Coldplug(sysRoot, ColdplugOptions{})
	if !overlapped["net"] || !overlapped["blk"] {
		t.Errorf("net and blk did not load side by side (overlapped: %v)", overlapped)
	}
	if want := []string{"evdev", "pci_bus", "ring", "core", "net", "blk"}; !reflect.DeepEqual(sum.Loaded, want) {
		t.Errorf("Loaded: got %v, want %v (the order of a one-at-a-time coldplug)", sum.Loaded, want)
	}
}
