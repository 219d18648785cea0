package main

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestLoadHostKeys(t *testing.T) {
	dir := t.TempDir()
	genDir := filepath.Join(dir, "var", "lib", "sshd")

	first, err := LoadHostKeys([]string{filepath.Join(dir, "etc-missing")}, genDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 1 || first[0].PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("generated keys %v, want one ed25519 key", first)
	}
	if _, err := os.Stat(filepath.Join(genDir, generatedKeyName+".pub")); err != nil {
		t.Errorf("no public key file next to the generated key: %v", err)
	}
	again, err := LoadHostKeys(nil, genDir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again[0].PublicKey().Marshal(), first[0].PublicKey().Marshal()) {
		t.Error("second start generated a new host key, want the stored one")
	}

	// A key shipped in /etc/ssh wins over the generated one.
	etcKey := filepath.Join(dir, "ssh_host_ed25519_key")
	other := newKeyFile(t, etcKey)
	got, err := LoadHostKeys([]string{etcKey, filepath.Join(dir, "ssh_host_rsa_key")}, genDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !bytes.Equal(got[0].PublicKey().Marshal(), other.Marshal()) {
		t.Error("the host key in the system's file was not used")
	}

	bad := filepath.Join(dir, "bad_key")
	if err := os.WriteFile(bad, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHostKeys([]string{bad}, genDir); err == nil {
		t.Error("a corrupt host key file was accepted, want an error")
	}
}

// newKeyFile writes a new OpenSSH private key to path and returns its public key.
func newKeyFile(t *testing.T, path string) ssh.PublicKey {
	t.Helper()
	s, err := generateHostKey(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if blk, _ := pem.Decode(b); blk == nil || blk.Type != "OPENSSH PRIVATE KEY" {
		t.Fatalf("%s is not an OpenSSH private key", path)
	}
	return s.PublicKey()
}

func TestAuthorizedKeysAllows(t *testing.T) {
	dir := t.TempDir()
	a, b, c := newSigner(t), newSigner(t), newSigner(t)
	f1 := filepath.Join(dir, "one")
	f2 := filepath.Join(dir, "two")
	os.WriteFile(f1, ssh.MarshalAuthorizedKey(a.PublicKey()), 0o600)
	os.WriteFile(f2, append([]byte("garbage line\n"+`command="x" `), ssh.MarshalAuthorizedKey(b.PublicKey())...), 0o600)
	keys := AuthorizedKeys{filepath.Join(dir, "missing"), f1, f2}
	tests := []struct {
		name string
		key  ssh.PublicKey
		want bool
	}{
		{"first file", a.PublicKey(), true},
		{"second file after junk", b.PublicKey(), true},
		{"not listed", c.PublicKey(), false},
	}
	for _, tt := range tests {
		if got := keys.Allows(tt.key); got != tt.want {
			t.Errorf("%s: Allows = %v, want %v", tt.name, got, tt.want)
		}
	}
}
