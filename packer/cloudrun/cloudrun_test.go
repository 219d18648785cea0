package cloudrun

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestUserdata(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ud")
	os.WriteFile(file, []byte("from file"), 0o600)
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, 11), 0o600)
	for _, tc := range []struct {
		data, file string
		want, err  string
	}{
		{"", "", "", ""},
		{"inline", "", "inline", ""},
		{"", file, "from file", ""},
		{"a", file, "", "not both"},
		{strings.Repeat("x", 11), "", "", "--data: 11 bytes, more than the 10"},
		{"", big, "", "11 bytes, more than the 10"},
	} {
		got, err := Userdata(tc.data, tc.file, 10)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Userdata(%q, %q): got %v, want an error containing %q", tc.data, tc.file, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want || (tc.want == "") != (got == nil) {
			t.Errorf("Userdata(%q, %q): got %q, %v, want %q", tc.data, tc.file, got, err, tc.want)
		}
	}
}

func TestSSHKeys(t *testing.T) {
	dir := t.TempDir()
	pub := filepath.Join(dir, "a.pub")
	os.WriteFile(pub, []byte("# mine\nssh-ed25519 AAAA one\n\necdsa-sha2-nistp256 BBBB two\n"), 0o600)
	got, err := SSHKeys([]string{pub})
	if want := []string{"ssh-ed25519 AAAA one", "ecdsa-sha2-nistp256 BBBB two"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("got %q, %v, want %q", got, err, want)
	}
	priv := filepath.Join(dir, "a")
	os.WriteFile(priv, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\n"), 0o600)
	if _, err := SSHKeys([]string{priv}); err == nil || !strings.Contains(err.Error(), "not an OpenSSH public key") {
		t.Errorf("private key: got %v, want it refused", err)
	}
}

func TestInstanceName(t *testing.T) {
	for _, image := range []string{"sys", "projects/p/global/images/family/keel", strings.Repeat("a", 70)} {
		got := instanceName(image, 63)
		if !gcpName.MatchString(got) || len(got) > 63 {
			t.Errorf("instanceName(%q) = %q, want a valid name of at most 63", image, got)
		}
	}
	if a, b := instanceName("sys", 63), instanceName("sys", 63); a == b {
		t.Errorf("got %q twice, want a random suffix", a)
	}
}
