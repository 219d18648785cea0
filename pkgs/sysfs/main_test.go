package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Setting
		wantErr  bool
	}{
		{"comments and blanks", "# c\n\n kernel/mm/x = madvise \n", []Setting{{Path: "kernel/mm/x", Value: "madvise", File: "f", Line: 3}}, false},
		{"no spaces", "block/vda/queue/scheduler=none", []Setting{{Path: "block/vda/queue/scheduler", Value: "none", File: "f", Line: 1}}, false},
		{"leading slash", "/kernel/x = 1", []Setting{{Path: "kernel/x", Value: "1", File: "f", Line: 1}}, false},
		{"no equals", "kernel/x 1\n", nil, true},
		{"two equals", "kernel/x = 1 = 2\n", nil, true},
		{"escape", "../etc/passwd = x\n", nil, true},
		{"escape inside", "kernel/../../etc = x\n", nil, true},
		{"empty path", " = x\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("f", strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("got error %v, want error %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d settings, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("setting %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestLoadApply(t *testing.T) {
	conf, sys := t.TempDir(), t.TempDir()
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(sys, "kernel/mm/thp/enabled"), "always")
	write(filepath.Join(sys, "kernel/mm/thp/defrag"), "always")
	// Lexical order: 10- after 00-, so its value wins.
	write(filepath.Join(conf, "00-a.conf"), "kernel/mm/thp/enabled = never\nkernel/mm/thp/defrag = madvise\n")
	write(filepath.Join(conf, "10-b.conf"), "kernel/mm/thp/enabled = madvise\nkernel/nope = 1\n")
	s, err := Load(conf)
	if err != nil {
		t.Fatal(err)
	}
	if failed := Apply(sys, s, io.Discard); failed != 1 {
		t.Errorf("got %d failures, want 1 (kernel/nope does not exist)", failed)
	}
	for p, want := range map[string]string{"kernel/mm/thp/enabled": "madvise", "kernel/mm/thp/defrag": "madvise"} {
		b, _ := os.ReadFile(filepath.Join(sys, p))
		if string(b) != want {
			t.Errorf("%s: got %q, want %q", p, b, want)
		}
	}
}

func TestShippedConf(t *testing.T) {
	f, err := os.Open("00-keel.conf")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := Parse("00-keel.conf", f)
	if err != nil || len(got) != 2 {
		t.Fatalf("got %v, %v; want LinuxKit's two transparent_hugepage settings", got, err)
	}
}
