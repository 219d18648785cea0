package metadata

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// tree lists dir as "path mode [content]" lines.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := rel + " " + fi.Mode().String()
		if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func writePlan(t *testing.T, d *Data) (string, *Plan) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "config")
	p := MakePlan(d, DefaultLimits)
	notes, err := WriteConfig(dir, p.Config)
	if err != nil {
		t.Fatal(err)
	}
	p.Notes = append(p.Notes, notes...)
	return dir, p
}

func TestLinuxKitLayout(t *testing.T) {
	ud := `{"ssh":{"entries":{"sshd_config":{"perm":"0600","content":"PermitRootLogin yes"}}},
	        "foo":{"entries":{"bar":{"content":"foobar"},"baz":{"perm":"0600","content":"bar"}}},
	        "top":{"perm":"0640","content":"t"}}`
	d := &Data{Provider: "AWS", Hostname: "host-1", SSHKeys: []string{"ssh-ed25519 AAAA k"},
		Userdata: []byte(ud), Files: map[string]string{"instance_id": "i-1"}}
	dir, p := writePlan(t, d)
	got := strings.Join(tree(t, dir), "\n")
	want := strings.Join([]string{
		"foo drwxr-xr-x",
		"foo/bar -rw-r--r-- foobar",
		"foo/baz -rw------- bar",
		"hostname -rw-r--r-- host-1",
		"instance_id -rw-r--r-- i-1",
		"provider -rw-r--r-- AWS",
		"ssh drwxr-xr-x",
		"ssh/authorized_keys -rw------- ssh-ed25519 AAAA k\n",
		"ssh/sshd_config -rw------- PermitRootLogin yes",
		"top -rw-r----- t",
		"userdata -rw------- " + ud,
	}, "\n")
	if got != want {
		t.Errorf("tree:\ngot\n%s\nwant\n%s", got, want)
	}
	if p.Hostname != "host-1" {
		t.Errorf("hostname: got %q, want host-1", p.Hostname)
	}
}

func TestUserdataCannotEscapeOrReplace(t *testing.T) {
	ud := `{"..":{"content":"x"},"a/b":{"content":"x"},"":{"content":"x"},".":{"entries":{}},
	        "provider":{"content":"evil"},"userdata":{"content":"evil"},
	        "suid":{"perm":"4777","content":"s"},"both":{"content":"x","entries":{}},"neither":{},
	        "badperm":{"perm":"rwx","content":"x"},"hostname":{"content":"from-userdata"},
	        "d":{"perm":"0555","entries":{"f":{"content":"in read-only dir"}}}}`
	dir, p := writePlan(t, &Data{Provider: "File", Userdata: []byte(ud)})
	got := strings.Join(tree(t, dir), "\n")
	want := strings.Join([]string{
		"d dr-xr-xr-x",
		"d/f -rw-r--r-- in read-only dir",
		"hostname -rw-r--r-- from-userdata",
		"provider -rw-r--r-- File",
		"suid -rwxrwxr-x s",
		"userdata -rw------- " + ud,
	}, "\n")
	if got != want {
		t.Errorf("tree:\ngot\n%s\nwant\n%s\nnotes: %q", got, want, p.Notes)
	}
	if p.Hostname != "from-userdata" {
		t.Errorf("hostname: got %q, want from-userdata (userdata may set it, as in LinuxKit)", p.Hostname)
	}
	if len(p.Notes) < 8 {
		t.Errorf("want a note per skipped or changed entry, got %q", p.Notes)
	}
	// The read-only directory must not block cleanup by tests.
	os.Chmod(filepath.Join(dir, "d"), 0o755)
}

func TestWriteConfigReplacesAtomically(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "config")
	if _, err := WriteConfig(dir, []Entry{{Path: "old", Mode: 0o644, Content: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteConfig(dir, []Entry{{Path: "new", Mode: 0o644, Content: []byte("2")}}); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, dir); len(got) != 1 || got[0] != "new -rw-r--r-- 2" {
		t.Errorf("got %q, want only the new tree", got)
	}
	left, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), ".config-new-*"))
	if len(left) != 0 {
		t.Errorf("temporary trees left behind: %v", left)
	}
}

func TestWriteIntoRefusesSymlinkEscape(t *testing.T) {
	base := t.TempDir()
	varDir, outside := filepath.Join(base, "var"), filepath.Join(base, "outside")
	os.MkdirAll(varDir, 0o755)
	os.MkdirAll(outside, 0o755)
	if err := os.Symlink(outside, filepath.Join(varDir, "lib")); err != nil {
		t.Fatal(err)
	}
	notes, err := WriteInto(varDir, []Entry{{Path: "lib/x", Mode: 0o644, Content: []byte("x")}, {Path: "ok", Mode: 0o644, Content: []byte("y")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file was written through the symlink: %v", err)
	}
	if len(notes) != 1 {
		t.Errorf("notes: got %q, want one about lib/x", notes)
	}
	if b, _ := os.ReadFile(filepath.Join(varDir, "ok")); string(b) != "y" {
		t.Errorf("ok: got %q, want y", b)
	}
}

func TestValidHostname(t *testing.T) {
	long := strings.Repeat("a", 40) + "." + strings.Repeat("b", 40)
	cases := []struct{ in, want string }{
		{"host-1", "host-1"},
		{" host.example.com.\n", "host.example.com"},
		{long, strings.Repeat("a", 40)},
		{"", ""}, {"-bad", ""}, {"bad-", ""}, {"a..b", ""}, {"a_b", ""}, {"a b", ""}, {"héllo", ""},
		{strings.Repeat("x", 65), ""}, {"../etc", ""},
	}
	for _, c := range cases {
		got, err := ValidHostname(c.in)
		if (err == nil) != (c.want != "") || got != c.want && err == nil {
			t.Errorf("ValidHostname(%q): got %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestParseMode(t *testing.T) {
	cases := []struct {
		in       string
		want     fs.FileMode
		stripped bool
		err      bool
	}{
		{"", 0o644, false, false}, {"0600", 0o600, false, false}, {"755", 0o755, false, false},
		{"0666", 0o664, true, false}, {"4755", 0o755, true, false}, {"2755", 0o755, true, false}, {"1777", 0o775, true, false},
		{"9", 0, false, true}, {"-1", 0, false, true}, {"77777", 0, false, true}, {"rw", 0, false, true},
	}
	for _, c := range cases {
		got, stripped, err := ParseMode(c.in, 0o644)
		if (err != nil) != c.err || got != c.want || stripped != c.stripped {
			t.Errorf("ParseMode(%q): got %v, %v, %v; want %v, %v, err %v", c.in, got, stripped, err, c.want, c.stripped, c.err)
		}
	}
}

func TestExpandJSONLimits(t *testing.T) {
	lim := Limits{Response: 1 << 20, TreeBytes: 10, TreeEntries: 3, TreeDepth: 2}
	cases := []struct {
		name, in string
		err      error
	}{
		{"fits", `{"a":{"content":"12345"},"b":{"entries":{"c":{"content":"12345"}}}}`, nil},
		{"too many bytes", `{"a":{"content":"123456"},"b":{"content":"123456"}}`, ErrTooBig},
		{"too many entries", `{"a":{"content":""},"b":{"content":""},"c":{"content":""},"d":{"content":""}}`, ErrTooBig},
		{"too deep", `{"a":{"entries":{"b":{"entries":{"c":{"content":""}}}}}}`, ErrTooBig},
		{"not json", `#!/bin/sh`, ErrNotJSON},
		{"json array", `[1,2]`, ErrNotJSON},
		{"wrong shape", `{"a":"b"}`, ErrNotJSON},
	}
	for _, c := range cases {
		entries, _, err := ExpandJSON([]byte(c.in), lim)
		if !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.err)
		}
		if err != nil && len(entries) != 0 {
			t.Errorf("%s: got %d entries with an error, want none (no partial tree)", c.name, len(entries))
		}
	}
}

func FuzzExpandJSON(f *testing.F) {
	f.Add([]byte(`{"ssh":{"entries":{"sshd_config":{"perm":"0600","content":"x"}}}}`))
	f.Add([]byte(`{"..":{"content":"x"},"a":{"perm":"7777","entries":{"b":{"content":"y"}}}}`))
	f.Add([]byte(`{"a":{"entries":{"a":{"entries":{"a":{"content":"deep"}}}}}}`))
	f.Add([]byte(`{"provider":{"content":"x"},"x\u0000y":{"content":"z"}}`))
	lim := Limits{Response: 1 << 16, TreeBytes: 1 << 16, TreeEntries: 64, TreeDepth: 8}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, _, err := ExpandJSON(data, lim)
		if err != nil {
			if len(entries) != 0 {
				t.Fatalf("entries with error %v", err)
			}
			return
		}
		var total int64
		for _, e := range entries {
			if !ValidRelPath(e.Path) {
				t.Fatalf("unsafe path %q", e.Path)
			}
			if e.Mode&forbiddenMode != 0 {
				t.Fatalf("%s: forbidden mode %v", e.Path, e.Mode)
			}
			total += int64(len(e.Content))
		}
		if len(entries) > lim.TreeEntries || total > lim.TreeBytes {
			t.Fatalf("limits passed: %d entries, %d bytes", len(entries), total)
		}
		base := t.TempDir()
		dir := filepath.Join(base, "config")
		if _, err := WriteConfig(dir, entries); err != nil {
			t.Fatalf("WriteConfig: %v", err)
		}
		filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if p != base && p != dir && !strings.HasPrefix(p, dir+"/") {
				t.Errorf("written outside the tree: %s", p)
			}
			if fi, err := d.Info(); err == nil && fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|0o002) != 0 {
				t.Errorf("%s: mode %v", p, fi.Mode())
			}
			if d.IsDir() {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
}
