package metadata

import (
	"context"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Hetzner reads Hetzner Cloud's metadata service under /hetzner/v1/, which
// no other cloud serves.
type Hetzner struct {
	Base string // default http://169.254.169.254
	F    *Fetcher
}

// Name implements Provider.
func (p *Hetzner) Name() string { return "hetzner" }

// Probe implements Provider.
func (p *Hetzner) Probe(ctx context.Context) (Strength, error) {
	b, err := p.F.Get(ctx, p.Base+"/hetzner/v1/metadata/instance-id", nil)
	if err != nil {
		return Absent, err
	}
	if _, err := strconv.ParseUint(text(b), 10, 64); err != nil {
		return Absent, badAnswer("hetzner: instance-id %q is not a number", text(b))
	}
	return Strong, nil
}

type hetznerDoc struct {
	Hostname         string   `yaml:"hostname"`
	InstanceID       string   `yaml:"instance-id"`
	PublicIPv4       string   `yaml:"public-ipv4"`
	LocalIPv4        string   `yaml:"local-ipv4"`
	Region           string   `yaml:"region"`
	AvailabilityZone string   `yaml:"availability-zone"`
	PublicKeys       []string `yaml:"public-keys"`
}

// Fetch implements Provider.
func (p *Hetzner) Fetch(ctx context.Context) (*Data, error) {
	b, err := p.F.Get(ctx, p.Base+"/hetzner/v1/metadata", nil)
	if err != nil {
		return nil, err
	}
	var doc hetznerDoc
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, badAnswer("hetzner: metadata is not the expected YAML: %v", err)
	}
	if doc.InstanceID == "" {
		return nil, badAnswer("hetzner: metadata has no instance-id")
	}
	d := &Data{Provider: "Hetzner", Hostname: doc.Hostname, SSHKeys: doc.PublicKeys, Files: map[string]string{}}
	for k, v := range map[string]string{"instance_id": doc.InstanceID, "public_ipv4": doc.PublicIPv4, "local_ipv4": doc.LocalIPv4,
		"region": doc.Region, "availability_zone": doc.AvailabilityZone} {
		if v != "" {
			d.Files[k] = v
		}
	}
	if d.Userdata, err = p.F.Optional(ctx, p.Base+"/hetzner/v1/userdata", nil); err != nil {
		return nil, err
	}
	return d, nil
}
