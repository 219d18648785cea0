package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

func TestResolvConf(t *testing.T) {
	head := "# Written by Keel's dhcpcd from its DHCP leases.\n"
	tests := []struct {
		name  string
		links map[string]Config
		want  string
	}{
		{"none", nil, head},
		{"qemu", map[string]Config{"eth0": {DNS: []netip.Addr{ip("10.0.2.3")}}},
			head + "nameserver 10.0.2.3\n"},
		{"search and several servers", map[string]Config{"eth0": {
			DNS: []netip.Addr{ip("192.0.2.1"), ip("192.0.2.2")}, Search: []string{"a.example", "b.example"}}},
			head + "search a.example b.example\nnameserver 192.0.2.1\nnameserver 192.0.2.2\n"},
		{"links merged in name order without duplicates", map[string]Config{
			"eth1": {DNS: []netip.Addr{ip("192.0.2.9"), ip("192.0.2.1")}, Search: []string{"b.example"}},
			"eth0": {DNS: []netip.Addr{ip("192.0.2.1")}, Search: []string{"a.example", "b.example"}},
		}, head + "search a.example b.example\nnameserver 192.0.2.1\nnameserver 192.0.2.9\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ResolvConf(tt.links); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestResolverWritesAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resolv.conf")
	// A file bind-mounted elsewhere keeps the old inode: the resolver
	// must replace the file, not write into it, and leave no temp files.
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Stat(path)
	r := newResolver(path)
	c := Config{DNS: []netip.Addr{ip("10.0.2.3")}}
	if err := r.set("eth0", &c); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := ResolvConf(map[string]Config{"eth0": c}); string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	st, _ := os.Stat(path)
	if os.SameFile(old, st) {
		t.Error("resolv.conf was written in place, want it replaced by rename")
	}
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d files, want only resolv.conf", len(entries))
	}

	// Same content: no rewrite, so bind mounts of it stay current.
	if err := r.set("eth0", &c); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.Stat(path); !os.SameFile(st, again) {
		t.Error("unchanged content rewrote resolv.conf")
	}
	if err := r.set("eth0", nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != ResolvConf(nil) {
		t.Errorf("after the link went away got %q, want no name servers", got)
	}
}

func TestResolverMissingDirectory(t *testing.T) {
	r := newResolver(filepath.Join(t.TempDir(), "missing", "resolv.conf"))
	if err := r.set("eth0", &Config{}); err == nil {
		t.Error("got no error writing into a missing directory, want one")
	}
}
