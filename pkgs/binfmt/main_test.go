package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParse(t *testing.T) {
	qemu := `:qemu-aarch64:M:0:\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff:/usr/bin/qemu-aarch64:CF`
	tests := []struct {
		name, in   string
		wantName   string
		wantInterp string
		wantFlags  string
		wantErr    bool
	}{
		{"LinuxKit's qemu line", qemu, "qemu-aarch64", "/usr/bin/qemu-aarch64", "CF", false},
		{"extension, no flags", ":jar:E::jar::/usr/bin/jexec:", "jar", "/usr/bin/jexec", "", false},
		{"six fields", ":x:M::AB::/bin/x", "x", "/bin/x", "", false},
		{"other delimiter", ",x,M,,AB,,/bin/x,", "x", "/bin/x", "", false},
		{"comment and blank", "# c\n\n", "", "", "", false},
		{"too few fields", ":x:M:0:AB", "", "", "", true},
		{"bad type", ":x:Q::AB::/bin/x:", "", "", "", true},
		{"no interpreter", ":x:M::AB:::", "", "", "", true},
		{"slash in name", ":a/b:M::AB::/bin/x:", "", "", "", true},
		{"name register", ":register:M::AB::/bin/x:", "", "", "", true},
		{"too long", ":x:M::" + strings.Repeat("A", maxRule) + "::/bin/x:", "", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("f", strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if tt.wantName == "" {
				if len(got) != 0 {
					t.Fatalf("got %d rules, want none", len(got))
				}
				return
			}
			if len(got) != 1 || got[0].Name != tt.wantName || got[0].Interpreter != tt.wantInterp || got[0].Flags != tt.wantFlags {
				t.Fatalf("got %+v, want one rule %s, interpreter %s, flags %q", got, tt.wantName, tt.wantInterp, tt.wantFlags)
			}
		})
	}
}

func TestLoadOrder(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "10-b.conf"), []byte(":b:M::B::/bin/b:\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "00-a.conf"), []byte("# a\n:a:M::A::/bin/a:\n"), 0o644)
	rules, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rules {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "a,b" {
		t.Errorf("got rules %s, want a,b (files in lexical order)", got)
	}
}

// TestRegisterReplaces runs Register against a fake binfmt_misc: a
// register file the test reads back, and a handler file that exists.
func TestRegisterReplaces(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "register"), nil, 0o644)
	r := Rule{Line: ":x:M::AB::/bin/x:", Name: "x", Interpreter: "/bin/x"}
	if err := Register(dir, r); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "register"))
	if string(b) != r.Line {
		t.Errorf("register got %q, want %q", b, r.Line)
	}
	// EEXIST needs the kernel; only the error path's message is checked here.
	err := Register(filepath.Join(dir, "missing"), Rule{Line: ":y:M::AB::/q:F", Name: "y", Interpreter: "/q", Flags: "F"})
	if !errors.Is(err, unix.ENOENT) || !strings.Contains(err.Error(), "must exist in the binfmt container") {
		t.Errorf("got %v, want ENOENT explained for flag F", err)
	}
}
