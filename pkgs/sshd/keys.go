package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"
)

// systemHostKeys are OpenSSH's host key files: a system that ships them (in
// its spec's files: or a bind) keeps the host identity it already has.
var systemHostKeys = []string{
	"/etc/ssh/ssh_host_ed25519_key",
	"/etc/ssh/ssh_host_ecdsa_key",
	"/etc/ssh/ssh_host_rsa_key",
}

// generatedKeyName is the file written into the host key directory when no
// host key exists anywhere.
const generatedKeyName = "ssh_host_ed25519_key"

// LoadHostKeys returns the host keys found in files (missing files are
// skipped); when there are none, it returns the ed25519 key in dir, creating
// it on first use, so the host identity survives restarts of the service.
func LoadHostKeys(files []string, dir string) ([]ssh.Signer, error) {
	var signers []ssh.Signer
	for _, f := range files {
		s, err := readHostKey(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		signers = append(signers, s)
	}
	if len(signers) > 0 {
		return signers, nil
	}
	path := filepath.Join(dir, generatedKeyName)
	s, err := readHostKey(path)
	if err == nil {
		return []ssh.Signer{s}, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	s, err = generateHostKey(path)
	if err != nil {
		return nil, err
	}
	return []ssh.Signer{s}, nil
}

func readHostKey(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := ssh.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("host key %s: %w (remove it to have a new ed25519 key generated)", path, err)
	}
	return s, nil
}

func generateHostKey(path string) (ssh.Signer, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return nil, fmt.Errorf("encoding host key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating host key directory: %w", err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("writing host key: %w", err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("host key: %w", err)
	}
	pub := ssh.MarshalAuthorizedKey(s.PublicKey())
	// The public half next to it, as ssh-keygen does, for known_hosts.
	if err := os.WriteFile(path+".pub", pub, 0o644); err != nil {
		return nil, fmt.Errorf("writing host public key: %w", err)
	}
	return s, nil
}

// AuthorizedKeys is the set of files whose keys may log in. The files are
// read at every attempt: the metadata agent or a user may change them while
// the server runs.
type AuthorizedKeys []string

// Allows reports whether key is listed in one of the files. Unreadable
// files are skipped; lines that are not keys are ignored, as OpenSSH does.
func (a AuthorizedKeys) Allows(key ssh.PublicKey) bool {
	want := key.Marshal()
	for _, f := range a {
		rest, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for len(rest) > 0 {
			k, _, _, next, err := ssh.ParseAuthorizedKey(rest)
			if err != nil {
				break
			}
			if bytes.Equal(k.Marshal(), want) {
				return true
			}
			rest = next
		}
	}
	return false
}
