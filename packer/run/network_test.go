package run

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/keel-os/keel/packer/segment"
)

func TestParseNetwork(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Network
		err  bool
	}{
		{"user", Network{Kind: "user"}, false},
		{"user,mac=52:54:00:aa:bb:cc", Network{Kind: "user", MAC: "52:54:00:aa:bb:cc"}, false},
		{"none", Network{Kind: "none"}, false},
		{"tap,tap0", Network{Kind: "tap", Target: "tap0"}, false},
		{"bridge,br0", Network{Kind: "bridge", Target: "br0"}, false},
		{"socket,listen=127.0.0.1:5000", Network{Kind: "socket", Target: "listen=127.0.0.1:5000"}, false},
		{"socket,listen=:5000", Network{Kind: "socket", Target: "listen=127.0.0.1:5000"}, false},
		{"socket,connect=127.0.0.1:5000,mac=52:54:00:00:00:02", Network{Kind: "socket", Target: "connect=127.0.0.1:5000", MAC: "52:54:00:00:00:02"}, false},
		{"socket,mcast=230.0.0.1:1234", Network{}, true},
		{"socket,listen=127.0.0.1:99999", Network{}, true},
		{"tap", Network{}, true},
		{"tap,a,b", Network{}, true},
		{"tap,bad/name", Network{}, true},
		{"none,mac=52:54:00:00:00:01", Network{}, true},
		{"user,mac=zz", Network{}, true},
		{"vde", Network{}, true},
		{"segment,lab", Network{Kind: "segment", Target: "lab"}, false},
		{"segment,k8s.1,mac=52:54:00:00:00:03", Network{Kind: "segment", Target: "k8s.1", MAC: "52:54:00:00:00:03"}, false},
		{"user,model=e1000e", Network{Kind: "user", Model: "e1000e"}, false},
		{"tap,tap0,model=e1000,mac=52:54:00:00:00:04", Network{Kind: "tap", Target: "tap0", Model: "e1000", MAC: "52:54:00:00:00:04"}, false},
		{"user,model=e1000e,x=y", Network{}, true},
		{"user,model=", Network{}, true},
		{"none,model=e1000e", Network{}, true},
		{"segment", Network{}, true},
		{"segment,a,b", Network{}, true},
		{"segment,../x", Network{}, true},
		{"segment,.hidden", Network{}, true},
	} {
		got, err := ParseNetwork(tc.in)
		if (err != nil) != tc.err {
			t.Errorf("ParseNetwork(%q) error %v, want error %v", tc.in, err, tc.err)
			continue
		}
		if !tc.err && got != tc.want {
			t.Errorf("ParseNetwork(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestNetArgs(t *testing.T) {
	pub := []Publish{{2222, 22, "tcp"}}
	for _, tc := range []struct {
		name    string
		nets    []Network
		publish []Publish
		want    string // joined args; "" with err
		err     string
	}{
		{"default", nil, pub, "-netdev user,id=net0,hostfwd=tcp::2222-:22 -device virtio-net-pci,netdev=net0", ""},
		{"none", []Network{{Kind: "none"}}, nil, "-nic none", ""},
		{"none with publish", []Network{{Kind: "none"}}, pub, "", "--publish needs a user network"},
		{"tap", []Network{{Kind: "tap", Target: "tap0", MAC: "52:54:00:00:00:09"}}, nil,
			"-netdev tap,id=net0,ifname=tap0,script=no,downscript=no -device virtio-net-pci,netdev=net0,mac=52:54:00:00:00:09", ""},
		{"bridge", []Network{{Kind: "bridge", Target: "br0", MAC: "52:54:00:00:00:0a"}}, nil,
			"-netdev bridge,id=net0,br=br0 -device virtio-net-pci,netdev=net0,mac=52:54:00:00:00:0a", ""},
		{"user and socket", []Network{{Kind: "user"}, {Kind: "socket", Target: "listen=127.0.0.1:5000", MAC: "52:54:00:00:00:01"}}, pub,
			"-netdev user,id=net0,hostfwd=tcp::2222-:22 -device virtio-net-pci,netdev=net0 -netdev socket,id=net1,listen=127.0.0.1:5000 -device virtio-net-pci,netdev=net1,mac=52:54:00:00:00:01", ""},
		{"socket with publish", []Network{{Kind: "socket", Target: "connect=127.0.0.1:5000"}}, pub, "", "add --networking user"},
		{"none and user", []Network{{Kind: "user"}, {Kind: "none"}}, nil, "", "cannot be combined"},
		{"user and segment", []Network{{Kind: "user"}, {Kind: "segment", Target: "lab", MAC: "52:54:00:00:00:02"}}, pub,
			"-netdev user,id=net0,hostfwd=tcp::2222-:22 -device virtio-net-pci,netdev=net0 -netdev stream,id=net1,server=off,addr.type=unix,addr.path=/run/s/lab.sock -device virtio-net-pci,netdev=net1,mac=52:54:00:00:00:02", ""},
		{"segment socket with a comma", []Network{{Kind: "segment", Target: "odd", MAC: "52:54:00:00:00:02"}}, nil,
			"-netdev stream,id=net0,server=off,addr.type=unix,addr.path=/run/a,,b/odd.sock -device virtio-net-pci,netdev=net0,mac=52:54:00:00:00:02", ""},
		{"e1000e", []Network{{Kind: "user", Model: "e1000e"}}, nil, "-netdev user,id=net0 -device e1000e,netdev=net0", ""},
		{"segment without a switch", []Network{{Kind: "segment", Target: "gone"}}, nil, "", "no switch socket"},
	} {
		sockets := map[string]string{"lab": "/run/s/lab.sock", "odd": "/run/a,b/odd.sock"}
		got, err := netArgs(tc.nets, tc.publish, "seed", "seed", sockets)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: got error %v, want one containing %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%s: got %q, %v\nwant %q", tc.name, strings.Join(got, " "), err, tc.want)
		}
	}
}

// Two ends of one socket link get different MACs without being told, and
// a VM keeps its MAC from one boot to the next.
func TestDerivedMACs(t *testing.T) {
	listen := []Network{{Kind: "socket", Target: "listen=127.0.0.1:5000"}}
	connect := []Network{{Kind: "socket", Target: "connect=127.0.0.1:5000"}}
	a, _ := netArgs(listen, nil, "img", "", nil)
	b, _ := netArgs(connect, nil, "img", "", nil)
	a2, _ := netArgs(listen, nil, "img", "", nil)
	if a[3] == b[3] {
		t.Errorf("both ends got %s, want different MACs", a[3])
	}
	if !slices.Equal(a, a2) {
		t.Errorf("MAC changed between boots: %s then %s", a[3], a2[3])
	}
}

// VMs of one build on one segment get different MACs: each its own
// without a state directory, one that stays across boots with one. Their
// switch is started once, from this process.
func TestSegmentMACs(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m")
	for _, s := range []string{"-kernel", "-initrd.img"} {
		os.WriteFile(p+s, []byte("x"), 0o644)
	}
	segDir, err := os.MkdirTemp("", "seg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(segDir) })
	starts := 0
	mac := func(state string) string {
		t.Helper()
		q := &QEMU{Prefix: p, KVM: "off", StateDir: state, SegmentDir: segDir,
			Networks: []Network{{Kind: "segment", Target: "lab"}},
			StartSwitch: func(dir, name string) error {
				starts++
				return segment.StartInProcess(dir, name, t.Logf)
			}}
		args, err := q.Args()
		if err != nil {
			t.Fatal(err)
		}
		i := slices.Index(args, "-netdev")
		if i < 0 || i+3 >= len(args) {
			t.Fatalf("no -netdev in %q", args)
		}
		if want := "addr.path=" + segment.Socket(segDir, "lab"); !strings.Contains(args[i+1], want) {
			t.Errorf("netdev %q, want %q in it", args[i+1], want)
		}
		_, m, _ := strings.Cut(args[i+3], "mac=")
		return m
	}
	a, b := mac(""), mac("")
	if a == b {
		t.Errorf("two VMs without a state directory both got %s", a)
	}
	state := t.TempDir()
	if s1, s2 := mac(state), mac(state); s1 != s2 {
		t.Errorf("a VM with a state directory got %s, then %s", s1, s2)
	}
	if starts != 1 {
		t.Errorf("the switch was started %d times, want 1", starts)
	}
}

func TestArgsDevicesAndFirmware(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m")
	for _, s := range []string{"-kernel", "-initrd.img"} {
		os.WriteFile(p+s, []byte("x"), 0o644)
	}
	fw := filepath.Join(dir, "CODE.fd")
	os.WriteFile(fw, []byte("fw"), 0o644)
	vars := filepath.Join(dir, "VARS.fd")
	os.WriteFile(vars, []byte("vars"), 0o644)
	q := &QEMU{Prefix: p, KVM: "off", StateDir: t.TempDir(), Devices: []string{"e1000e,netdev=net0"}, Firmware: fw}
	old := machines["amd64"]
	m := old
	m.varsFW = vars
	machines["amd64"] = m
	t.Cleanup(func() { machines["amd64"] = old })
	args, err := q.Args()
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(args, " ")
	for _, want := range []string{"-device e1000e,netdev=net0", "if=pflash,format=raw,unit=0,readonly=on,file=" + fw} {
		if !strings.Contains(joined, want) {
			t.Errorf("args %q, want %q in them", joined, want)
		}
	}
	q.Firmware = filepath.Join(dir, "missing.fd")
	q.accel = nil
	if _, err := q.Args(); err == nil || !strings.Contains(err.Error(), "--fw") {
		t.Errorf("missing firmware: got %v, want a --fw error", err)
	}
}
