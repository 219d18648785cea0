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
		{"comments and blanks", "# c\n; c\n\nnet.ipv4.ip_forward = 1\n", []Setting{{Key: "net.ipv4.ip_forward", Value: "1", File: "f", Line: 4}}, false},
		{"optional", "-kernel.nope=2", []Setting{{Key: "kernel.nope", Value: "2", File: "f", Line: 1, Optional: true}}, false},
		{"no equals", "kernel.x 1\n", nil, true},
		{"escape", "../etc/passwd = x\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("f", strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
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

func TestApply(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "net/ipv4"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "net/ipv4/ip_forward"), []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := []Setting{
		{Key: "net.ipv4.ip_forward", Value: "1"},
		{Key: "kernel.missing", Value: "1", Optional: true},
		{Key: "kernel.absent", Value: "1"},
	}
	if got := Apply(root, s, io.Discard); got != 1 {
		t.Errorf("failed = %d, want 1 (only the non-optional missing key)", got)
	}
	b, _ := os.ReadFile(filepath.Join(root, "net/ipv4/ip_forward"))
	if string(b) != "1" {
		t.Errorf("ip_forward = %q, want 1", b)
	}
}
