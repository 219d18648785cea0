package metadata

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// IsCloudConfig reports whether userdata is a cloud-init #cloud-config file.
func IsCloudConfig(ud []byte) bool {
	first, _, _ := bytes.Cut(ud, []byte("\n"))
	return string(bytes.TrimRight(first, " \t\r")) == "#cloud-config"
}

// cloudConfig is the part of cloud-init's format Keel understands.
type cloudConfig struct {
	Hostname          string      `yaml:"hostname"`
	FQDN              string      `yaml:"fqdn"`
	SSHAuthorizedKeys []string    `yaml:"ssh_authorized_keys"`
	WriteFiles        []cloudFile `yaml:"write_files"`
}

type cloudFile struct {
	Path        string    `yaml:"path"`
	Content     string    `yaml:"content"`
	Encoding    string    `yaml:"encoding"`
	Permissions yaml.Node `yaml:"permissions"`
	Owner       string    `yaml:"owner"`
	Append      bool      `yaml:"append"`
	Defer       bool      `yaml:"defer"`
}

var cloudConfigKeys = map[string]bool{"hostname": true, "fqdn": true, "ssh_authorized_keys": true, "write_files": true}

// cloudConfig adds what a #cloud-config asks for: the hostname, SSH keys
// (appended to ssh/authorized_keys), and write_files under /run/config or
// /var. Every other key is noted as unsupported.
func (p *Plan) cloudConfig(ud []byte, lim Limits) {
	note := func(format string, args ...any) {
		p.Notes = append(p.Notes, fmt.Sprintf("cloud-config: "+format, args...))
	}
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(ud, &top); err != nil {
		note("not applied: %v", err)
		return
	}
	var unsupported []string
	for k := range top {
		if !cloudConfigKeys[k] {
			unsupported = append(unsupported, k)
		}
	}
	sort.Strings(unsupported)
	for _, k := range unsupported {
		note("%s is not supported by Keel; ignored", k)
	}
	var cc cloudConfig
	if err := yaml.Unmarshal(ud, &cc); err != nil {
		note("not applied: %v", err)
		return
	}
	host := cc.Hostname
	if host == "" {
		host = cc.FQDN
	}
	if host != "" {
		if h, err := ValidHostname(host); err != nil {
			note("ignoring hostname: %v", err)
		} else {
			p.Config = append(p.Config, Entry{Path: "hostname", Mode: 0o644, Content: []byte(h)})
		}
	}
	if keys := cleanKeys(cc.SSHAuthorizedKeys); len(keys) > 0 {
		existing := ""
		for _, e := range p.Config {
			if e.Path == "ssh/authorized_keys" {
				existing = string(e.Content)
			}
		}
		p.Config = append(p.Config,
			Entry{Path: "ssh", Dir: true, Mode: 0o755},
			Entry{Path: "ssh/authorized_keys", Mode: 0o600, Content: []byte(existing + strings.Join(keys, "\n") + "\n")})
	}
	var total int64
	for i, wf := range cc.WriteFiles {
		e, where, err := wf.entry(lim)
		if err != nil {
			note("write_files[%d] %s: skipped: %v", i, wf.Path, err)
			continue
		}
		total += int64(len(e.Content))
		if total > lim.TreeBytes {
			note("write_files[%d] %s: skipped: more than %d bytes in write_files", i, wf.Path, lim.TreeBytes)
			continue
		}
		if where == "config" {
			if reserved[e.Path] {
				note("write_files[%d] %s: skipped: reserved name", i, wf.Path)
				continue
			}
			p.Config = append(p.Config, e)
		} else {
			p.Var = append(p.Var, e)
		}
	}
}

// entry checks one write_files item and says whether it goes to
// /run/config ("config") or /var ("var").
func (wf cloudFile) entry(lim Limits) (Entry, string, error) {
	if wf.Owner != "" && wf.Owner != "root" && wf.Owner != "root:root" {
		return Entry{}, "", fmt.Errorf("owner %q is not supported (files are owned by root)", wf.Owner)
	}
	if wf.Append {
		return Entry{}, "", fmt.Errorf("append is not supported")
	}
	if !strings.HasPrefix(wf.Path, "/") {
		return Entry{}, "", fmt.Errorf("path must be absolute")
	}
	clean := path.Clean(wf.Path)
	var rel, where string
	switch {
	case strings.HasPrefix(clean, "/run/config/"):
		rel, where = strings.TrimPrefix(clean, "/run/config/"), "config"
	case strings.HasPrefix(clean, "/var/"):
		rel, where = strings.TrimPrefix(clean, "/var/"), "var"
	default:
		return Entry{}, "", fmt.Errorf("only paths under /run/config/ or /var/ can be written")
	}
	if !ValidRelPath(rel) || clean != wf.Path && clean+"/" != wf.Path {
		return Entry{}, "", fmt.Errorf("path is not clean")
	}
	perm := ""
	switch wf.Permissions.Kind {
	case 0:
	case yaml.ScalarNode:
		perm = wf.Permissions.Value
		perm = strings.TrimPrefix(strings.TrimPrefix(perm, "0o"), "0O")
	default:
		return Entry{}, "", fmt.Errorf("permissions must be an octal string like '0644'")
	}
	mode, _, err := ParseMode(perm, 0o644)
	if err != nil {
		return Entry{}, "", err
	}
	content, err := decode(wf.Content, wf.Encoding, lim.Response)
	if err != nil {
		return Entry{}, "", err
	}
	return Entry{Path: rel, Mode: mode, Content: content}, where, nil
}

func decode(s, encoding string, limit int64) ([]byte, error) {
	data := []byte(s)
	var err error
	enc := strings.ToLower(encoding)
	if enc == "b64" || enc == "base64" || enc == "gz+b64" || enc == "gzip+base64" || enc == "gz+base64" || enc == "gzip+b64" {
		if data, err = base64.StdEncoding.DecodeString(strings.TrimSpace(s)); err != nil {
			return nil, fmt.Errorf("content is not base64: %w", err)
		}
	}
	switch enc {
	case "", "text/plain", "b64", "base64":
		return data, nil
	case "gz", "gzip", "gz+b64", "gzip+base64", "gz+base64", "gzip+b64":
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("content is not gzip: %w", err)
		}
		out, err := io.ReadAll(io.LimitReader(zr, limit+1))
		if err != nil {
			return nil, fmt.Errorf("content is not gzip: %w", err)
		}
		if int64(len(out)) > limit {
			return nil, fmt.Errorf("content expands past %d bytes", limit)
		}
		return out, nil
	}
	return nil, fmt.Errorf("encoding %q is not supported (want text/plain, b64, gzip or gz+b64)", encoding)
}
