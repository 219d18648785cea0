package uki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testSigner makes a self-signed RSA certificate and its key, written as
// PEM files into dir as a user would hand them to keel.
func testSigner(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "Keel test Secure Boot key"},
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "db.crt"), filepath.Join(dir, "db.key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	return certFile, keyFile
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sbverify checks a signed image with sbsigntool's verifier, an
// implementation independent of ours.
func sbverify(t *testing.T, certFile string, image []byte) error {
	t.Helper()
	tool, err := exec.LookPath("sbverify")
	if err != nil {
		if os.Getenv("KEEL_E2E") == "1" {
			t.Fatal("sbverify is missing: install Debian's sbsigntool (scripts/ensure-deps.sh)")
		}
		t.Skip("sbverify is missing: install Debian's sbsigntool")
	}
	f := filepath.Join(t.TempDir(), "image.efi")
	if err := os.WriteFile(f, image, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "--cert", certFile, f).CombinedOutput()
	if err != nil {
		return &verifyError{string(out)}
	}
	return nil
}

type verifyError struct{ out string }

func (e *verifyError) Error() string { return "sbverify: " + e.out }

func TestSignVerifies(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := testSigner(t, dir)
	signer, err := LoadSigner(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	// Lengths that are not multiples of 8 make Sign pad before the
	// certificate table.
	var img bytes.Buffer
	err = Write(&img, stub(t), Parts{OSRel: []byte(OSRelease), Cmdline: "console=ttyS0", Linux: bytes.NewReader(bytes.Repeat([]byte("K"), 10001)), Initrd: bytes.NewReader(bytes.Repeat([]byte("I"), 4099))})
	if err != nil {
		t.Fatal(err)
	}
	signed, err := Sign(img.Bytes(), signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := sbverify(t, certFile, signed); err != nil {
		t.Fatalf("the signed UKI does not verify: %v", err)
	}
	again, err := Sign(img.Bytes(), signer)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(signed, again) {
		t.Error("signing the same image twice gave different bytes, want identical (reproducible builds)")
	}

	// The signature covers the kernel: change one byte of it and the
	// verifier must refuse the image.
	tampered := bytes.Clone(signed)
	i := bytes.Index(tampered, bytes.Repeat([]byte("K"), 100))
	tampered[i] = 'X'
	if err := sbverify(t, certFile, tampered); err == nil {
		t.Error("an image whose kernel changed after signing verified, want a hash mismatch")
	}
	// Someone else's certificate does not verify it either.
	otherCert, _ := testSigner(t, t.TempDir())
	if err := sbverify(t, otherCert, signed); err == nil {
		t.Error("the image verified with an unrelated certificate")
	}
}

func TestSignRejects(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := testSigner(t, dir)
	signer, err := LoadSigner(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := Sign(stub(t), signer)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		image []byte
		want  string
	}{
		{"not PE", []byte("MZ but not really"), "reading the EFI image"},
		{"already signed", signed, "already signed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Sign(tt.image, signer)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
	// The certificate table entry points at the appended signature.
	dirOff := securityDirOffset(signed)
	off, size := binary.LittleEndian.Uint32(signed[dirOff:]), binary.LittleEndian.Uint32(signed[dirOff+4:])
	if int(off)+int(size) != len(signed) || off%8 != 0 {
		t.Errorf("got certificate table at %d size %d in a %d-byte file, want an 8-byte aligned table ending the file", off, size, len(signed))
	}
}

func TestLoadSigner(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := testSigner(t, dir)
	_, otherKey := testSigner(t, t.TempDir())
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	ecFile := filepath.Join(dir, "ec.key")
	writePEM(t, ecFile, "PRIVATE KEY", ecDER)
	encrypted := filepath.Join(dir, "enc.key")
	writePEM(t, encrypted, "ENCRYPTED PRIVATE KEY", []byte{1, 2, 3})
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, cert, key, want string
	}{
		{"matching pair", certFile, keyFile, ""},
		{"key of another certificate", certFile, otherKey, "does not belong"},
		{"key of another type", certFile, ecFile, "does not belong"},
		{"encrypted key", certFile, encrypted, "decrypt it first"},
		{"key not PEM", certFile, garbage, "no PEM block"},
		{"certificate not PEM", garbage, keyFile, "no PEM CERTIFICATE"},
		{"missing certificate", filepath.Join(dir, "nope"), keyFile, "reading the signing certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadSigner(tt.cert, tt.key)
			if tt.want == "" {
				if err != nil {
					t.Errorf("got error %v, want none", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
