// Package cloudrun starts an instance of an image that `keel push` made
// (`keel run PROVIDER IMAGE`), hands it Keel's metadata (userdata, SSH
// keys) the way that provider delivers it so that the booted system's
// metadata agent configures it, streams its serial console, and deletes
// what it made. There is one file per provider; each talks to the cloud
// through the provider's own Go SDK and standard credential chain, and
// maps the errors a user can fix to one line, as package push does (the
// same *push.Error kinds).
package cloudrun

import (
	"crypto/rand"
	"fmt"
	"os"
	"strings"
)

// MaxUserdata bounds the userdata a run passes: GCP takes 256 KiB per
// metadata value, EC2 16 KiB before base64, Azure 64 KiB of base64
// userData. Each provider checks its own limit; this is the largest.
const MaxUserdata = 256 << 10

// Userdata reads --data or --data-file: the one or the other, bounded.
func Userdata(data, dataFile string, limit int) ([]byte, error) {
	switch {
	case data != "" && dataFile != "":
		return nil, fmt.Errorf("give --data or --data-file, not both")
	case dataFile != "":
		st, err := os.Stat(dataFile)
		if err != nil {
			return nil, fmt.Errorf("--data-file: %w", err)
		}
		if st.Size() > int64(limit) {
			return nil, fmt.Errorf("--data-file %s: %d bytes, more than the %d this cloud takes as userdata", dataFile, st.Size(), limit)
		}
		b, err := os.ReadFile(dataFile)
		if err != nil {
			return nil, fmt.Errorf("--data-file: %w", err)
		}
		return b, nil
	case len(data) > limit:
		return nil, fmt.Errorf("--data: %d bytes, more than the %d this cloud takes as userdata", len(data), limit)
	}
	if data == "" {
		return nil, nil
	}
	return []byte(data), nil
}

// SSHKeys reads public key files (OpenSSH's one key a line), refusing
// what is not a public key: a private key given by mistake must not go
// into the instance's metadata.
func SSHKeys(paths []string) ([]string, error) {
	var keys []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--ssh-key: %w", err)
		}
		if len(b) > 64<<10 {
			return nil, fmt.Errorf("--ssh-key %s: more than 64 KiB, not a public key file", p)
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if strings.Contains(line, "PRIVATE KEY") || !strings.HasPrefix(line, "ssh-") && !strings.HasPrefix(line, "ecdsa-") && !strings.HasPrefix(line, "sk-") {
				return nil, fmt.Errorf("--ssh-key %s: %q is not an OpenSSH public key (give the .pub file)", p, cut(line, 20))
			}
			keys = append(keys, line)
		}
	}
	return keys, nil
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// instanceName is the default name of an instance of image: the image's
// name and a random suffix, so that two runs of one image do not collide.
func instanceName(image string, max int) string {
	if i := strings.LastIndex(image, "/"); i >= 0 {
		image = image[i+1:]
	}
	var b [3]byte
	rand.Read(b[:])
	suffix := fmt.Sprintf("-%x", b)
	if len(image) > max-len(suffix) {
		image = strings.TrimRight(image[:max-len(suffix)], "-")
	}
	return image + suffix
}
