package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBuildSigningFlags checks that Secure Boot signing is refused, before
// anything is built, when it cannot apply.
func TestBuildSigningFlags(t *testing.T) {
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"}, NotBefore: time.Unix(0, 0), NotAfter: time.Now().AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, keyFile := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"key without certificate", []string{"--sign-key", keyFile}, "needs both"},
		{"certificate without key", []string{"--sign-cert", cert}, "needs both"},
		{"format without a UKI", []string{"--sign-key", keyFile, "--sign-cert", cert, "--format", "iso-bios"}, "has none"},
		{"key and certificate swapped", []string{"--sign-key", cert, "--sign-cert", keyFile}, "--sign-key/--sign-cert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			args := append([]string{"--cache", cacheWith(t), "build", "--pull", "never", "--dir", out}, tt.args...)
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), append(args, "-"), strings.NewReader(stdinSpec), &stdout, &stderr)
			if code == 0 || !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("exit %d, stderr %q; want a failure mentioning %q", code, stderr.String(), tt.want)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("a refused build wrote %d files, want none", len(entries))
			}
		})
	}
}
