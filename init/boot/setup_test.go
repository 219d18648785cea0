package boot

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestParseFilesystems(t *testing.T) {
	in := "nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\tbinfmt_misc\n\n"
	want := []string{"sysfs", "tmpfs", "ext4", "binfmt_misc"}
	if got := parseFilesystems(in); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestHostnameFromMAC(t *testing.T) {
	tests := []struct {
		name string
		ifs  map[string][2]string // name -> type, address
		want string
	}{
		{"first ethernet", map[string][2]string{"lo": {"772", "00:00:00:00:00:00"}, "eth0": {"1", "52:54:00:12:34:56"}, "eth1": {"1", "52:54:00:ab:cd:ef"}}, "keel-525400123456"},
		{"skips zero mac", map[string][2]string{"dummy0": {"1", "00:00:00:00:00:00"}, "eth0": {"1", "52:54:00:12:34:56"}}, "keel-525400123456"},
		{"only loopback", map[string][2]string{"lo": {"772", "00:00:00:00:00:00"}}, ""},
		{"nothing", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, v := range tt.ifs {
				d := filepath.Join(dir, name)
				os.MkdirAll(d, 0o755)
				os.WriteFile(filepath.Join(d, "type"), []byte(v[0]+"\n"), 0o644)
				os.WriteFile(filepath.Join(d, "address"), []byte(v[1]+"\n"), 0o644)
			}
			if got := hostnameFromMAC(dir); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResolvConfStep(t *testing.T) {
	tests := []struct {
		name     string
		existing string // what etc/resolv.conf is before: "", "file" or "link"
		wantLink bool
	}{
		{"absent: linked into run", "", true},
		{"dangling link: target created", "link", true},
		{"regular file kept", "file", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			etc := filepath.Join(root, "etc")
			target := filepath.Join(root, "run", "resolvconf", "resolv.conf")
			os.MkdirAll(etc, 0o755)
			switch tt.existing {
			case "file":
				os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte("nameserver 1.1.1.1\n"), 0o644)
			case "link":
				os.Symlink("../run/resolvconf/resolv.conf", filepath.Join(etc, "resolv.conf"))
			}
			if err := resolvConfStep(etc, target); err != nil {
				t.Fatal(err)
			}
			if st, err := os.Stat(filepath.Dir(target)); err != nil || !st.IsDir() {
				t.Errorf("%s: got %v, want a directory for dhcpcd's bind", filepath.Dir(target), err)
			}
			if !tt.wantLink {
				if raw, _ := os.ReadFile(filepath.Join(etc, "resolv.conf")); string(raw) != "nameserver 1.1.1.1\n" {
					t.Errorf("got %q, want the image's file untouched", raw)
				}
				return
			}
			if _, err := os.Stat(target); err != nil {
				t.Errorf("link target: got %v, want an empty file", err)
			}
			if _, err := os.Stat(filepath.Join(etc, "resolv.conf")); err != nil {
				t.Errorf("resolv.conf through the link: got %v, want it readable", err)
			}
		})
	}
}

func TestRTCToTime(t *testing.T) {
	rt := &unix.RTCTime{Sec: 5, Min: 4, Hour: 3, Mday: 2, Mon: 0, Year: 126}
	want := time.Date(2026, time.January, 2, 3, 4, 5, 0, time.UTC)
	if got := rtcToTime(rt); !got.Equal(want) {
		t.Errorf("got %s, want %s", got, want)
	}
}
