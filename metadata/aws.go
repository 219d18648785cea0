package metadata

import (
	"context"
	"net/http"
	"strings"
)

// AWS reads EC2's instance metadata service: IMDSv2 (a session token from
// PUT /latest/api/token, sent back on every GET), falling back to IMDSv1
// where the token is refused. Many clouds imitate the v1 paths, so a v1-only
// answer is weak; the token flow is AWS's own and strong.
type AWS struct {
	Base string // default http://169.254.169.254
	F    *Fetcher
}

const linkLocal = "http://169.254.169.254"

// Name implements Provider.
func (p *AWS) Name() string { return "aws" }

func (p *AWS) token(ctx context.Context) (string, error) {
	b, _, err := p.F.Do(ctx, http.MethodPut, p.Base+"/latest/api/token",
		map[string]string{"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
	if err != nil {
		return "", err
	}
	tok := text(b)
	if tok == "" || strings.ContainsAny(tok, "\r\n") {
		return "", badAnswer("aws: empty or malformed IMDSv2 token")
	}
	return tok, nil
}

// Probe implements Provider.
func (p *AWS) Probe(ctx context.Context) (Strength, error) {
	if tok, err := p.token(ctx); err == nil {
		b, err := p.F.Get(ctx, p.Base+"/latest/meta-data/instance-id", map[string]string{"X-aws-ec2-metadata-token": tok})
		if err == nil && validInstanceID(text(b)) {
			return Strong, nil
		}
	} else if !Definite(err) {
		return Absent, err
	}
	b, err := p.F.Get(ctx, p.Base+"/latest/meta-data/instance-id", nil)
	if err != nil {
		return Absent, err
	}
	if !validInstanceID(text(b)) {
		return Absent, badAnswer("aws: instance-id %.40q is not like i-0123abcd", text(b))
	}
	return Weak, nil
}

// validInstanceID checks EC2's "i-" + hex form (which Nova imitates).
func validInstanceID(s string) bool {
	if !strings.HasPrefix(s, "i-") || len(s) < 3 || len(s) > 32 {
		return false
	}
	for _, c := range s[2:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Fetch implements Provider.
func (p *AWS) Fetch(ctx context.Context) (*Data, error) {
	var hdr map[string]string
	if tok, err := p.token(ctx); err == nil {
		hdr = map[string]string{"X-aws-ec2-metadata-token": tok}
	} else if !Definite(err) {
		return nil, err
	}
	meta := func(name string) (string, error) {
		b, err := p.F.Optional(ctx, p.Base+"/latest/meta-data/"+name, hdr)
		return text(b), err
	}
	d := &Data{Provider: "AWS", Files: map[string]string{}}
	var err error
	if d.Hostname, err = meta("hostname"); err != nil {
		return nil, err
	}
	for path, file := range map[string]string{
		"public-ipv4": "public_ipv4", "local-ipv4": "local_ipv4", "placement/availability-zone": "availability_zone",
		"instance-type": "instance_type", "instance-id": "instance_id", "local-hostname": "local_hostname",
	} {
		v, err := meta(path)
		if err != nil {
			return nil, err
		}
		if v != "" {
			d.Files[file] = v
		}
	}
	// public-keys/ lists "0=name" lines; each key is under N/openssh-key.
	list, err := meta("public-keys/")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(list, "\n") {
		idx, _, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || idx == "" || strings.ContainsAny(idx, "/.?#") {
			continue
		}
		k, err := meta("public-keys/" + idx + "/openssh-key")
		if err != nil {
			return nil, err
		}
		d.SSHKeys = append(d.SSHKeys, k)
	}
	if d.Userdata, err = p.F.Optional(ctx, p.Base+"/latest/user-data", hdr); err != nil {
		return nil, err
	}
	if d.Files["instance_id"] == "" {
		return nil, badAnswer("aws: no instance-id")
	}
	return d, nil
}
