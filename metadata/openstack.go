package metadata

import (
	"context"
	"encoding/json"
	"sort"
)

// OpenStack reads Nova's metadata service (/openstack/latest/...). Nova also
// serves EC2's paths, which is why AWS's v1 answer is only weak; the
// /openstack/ tree is Nova's own. The same files on a config drive (a disk
// labelled config-2) are read by the NoCloud provider.
type OpenStack struct {
	Base string // default http://169.254.169.254
	F    *Fetcher
}

// Name implements Provider.
func (p *OpenStack) Name() string { return "openstack" }

type openstackDoc struct {
	UUID             string            `json:"uuid"`
	Hostname         string            `json:"hostname"`
	Name             string            `json:"name"`
	AvailabilityZone string            `json:"availability_zone"`
	PublicKeys       map[string]string `json:"public_keys"`
}

func parseOpenStack(b []byte) (*openstackDoc, error) {
	var doc openstackDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, badAnswer("openstack: meta_data.json is not the expected JSON: %v", err)
	}
	if doc.UUID == "" {
		return nil, badAnswer("openstack: meta_data.json has no uuid")
	}
	return &doc, nil
}

// data turns meta_data.json and user_data into Data.
func (doc *openstackDoc) data(userdata []byte) *Data {
	d := &Data{Provider: "Openstack", Hostname: doc.Hostname, Userdata: userdata, Files: map[string]string{"instance_id": doc.UUID}}
	if d.Hostname == "" {
		d.Hostname = doc.Name
	}
	if doc.AvailabilityZone != "" {
		d.Files["availability_zone"] = doc.AvailabilityZone
	}
	names := make([]string, 0, len(doc.PublicKeys))
	for n := range doc.PublicKeys {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d.SSHKeys = append(d.SSHKeys, doc.PublicKeys[n])
	}
	return d
}

// Probe implements Provider.
func (p *OpenStack) Probe(ctx context.Context) (Strength, error) {
	b, err := p.F.Get(ctx, p.Base+"/openstack/latest/meta_data.json", nil)
	if err != nil {
		return Absent, err
	}
	if _, err := parseOpenStack(b); err != nil {
		return Absent, err
	}
	return Strong, nil
}

// Fetch implements Provider.
func (p *OpenStack) Fetch(ctx context.Context) (*Data, error) {
	b, err := p.F.Get(ctx, p.Base+"/openstack/latest/meta_data.json", nil)
	if err != nil {
		return nil, err
	}
	doc, err := parseOpenStack(b)
	if err != nil {
		return nil, err
	}
	ud, err := p.F.Optional(ctx, p.Base+"/openstack/latest/user_data", nil)
	if err != nil {
		return nil, err
	}
	return doc.data(ud), nil
}
