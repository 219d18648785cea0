package kmod

import "testing"

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"pci:v00001AF4d*sv*sd*bc*sc*i*", "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00", true},
		{"pci:v00001AF4d*sv*sd*bc*sc*i*", "pci:v00008086d00001000sv00001AF4sd00000001bc02sc00i00", false},
		{"virtio:d00000001v*", "virtio:d00000001v00001AF4", true},
		{"virtio:d00000001v*", "virtio:d00000010v00001AF4", false},
		{"dmi:*bd04/01/2014*", "dmi:bvnSeaBIOS:bd04/01/2014:svnQEMU", true}, // '*' crosses '/'
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"x[0-9]y", "x5y", true},
		{"x[0-9]y", "xay", false},
		{"x[!0-9]y", "xay", true},
		{"x[^0-9]y", "x5y", false},
		{"x[]a]y", "x]y", true},
		{"x[ab", "x[ab", true}, // unclosed '[' is literal
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		{"*", "", true},
		{"", "", true},
		{"", "a", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"acpi*:PNP0501:*", "acpi:PNP0501:", true},
		{"acpi*:PNP0501:*", "acpi:PNP0500:", false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q): got %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestLiteralPrefix(t *testing.T) {
	tests := map[string]string{"pci:v1d*": "pci:v1d", "abc": "abc", "*x": "", `a\*`: "a", "x[ab]": "x"}
	for in, want := range tests {
		if got := literalPrefix(in); got != want {
			t.Errorf("literalPrefix(%q): got %q, want %q", in, got, want)
		}
	}
}
