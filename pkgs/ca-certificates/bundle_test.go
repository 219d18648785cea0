// Package cacertificates holds the test of pkgs/ca-certificates: the image
// has no Go program of its own.
package cacertificates

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os/exec"
	"testing"

	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/pkgbuild"
)

func TestBundle(t *testing.T) {
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("needs apt-get to download the Debian package")
	}
	cache, err := image.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ref, err := pkgbuild.Build(context.Background(), ".", pkgbuild.Options{Cache: cache})
	if err != nil {
		t.Fatal(err)
	}
	img, err := cache.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	const bundle = "/etc/ssl/certs/ca-certificates.crt"
	files, err := image.ReadFiles(img, bundle)
	if err != nil {
		t.Fatal(err)
	}
	data := files[bundle]
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		t.Fatalf("%s: no certificate parses (%d bytes)", bundle, len(data))
	}
	// Every block must be a certificate Go can parse, not just some.
	n := 0
	for rest := data; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if len(bytes.TrimSpace(rest)) != 0 {
				t.Errorf("%s: %d bytes after certificate %d are not PEM", bundle, len(rest), n)
			}
			break
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			t.Errorf("%s: certificate %d: %v", bundle, n+1, err)
		}
	}
	if n <= 100 {
		t.Errorf("%s: got %d certificates, want more than 100", bundle, n)
	}
	if entries, err := image.ReadFiles(img, "/usr/sbin/update-ca-certificates"); err != nil || len(entries) != 0 {
		t.Errorf("the Debian package's other files are still there: %v, %v", entries, err)
	}
}
