package metadata

import "context"

// UpCloud reads UpCloud's metadata service (/metadata/v1.json), told apart
// from DigitalOcean's same path by cloud_name "upcloud".
type UpCloud struct {
	Base string // default http://169.254.169.254
	F    *Fetcher
}

// Name implements Provider.
func (p *UpCloud) Name() string { return "upcloud" }

type upcloudDoc struct {
	CloudName  string   `json:"cloud_name"`
	InstanceID string   `json:"instance_id"`
	Hostname   string   `json:"hostname"`
	Region     string   `json:"region"`
	PublicKeys []string `json:"public_keys"`
	UserData   string   `json:"user_data"`
}

func (p *UpCloud) doc(ctx context.Context) (*upcloudDoc, error) {
	var doc upcloudDoc
	if err := p.F.GetJSON(ctx, p.Base+"/metadata/v1.json", nil, &doc); err != nil {
		return nil, err
	}
	if doc.CloudName != "upcloud" || doc.InstanceID == "" {
		return nil, badAnswer("upcloud: v1.json is not UpCloud's (cloud_name %q)", doc.CloudName)
	}
	return &doc, nil
}

// Probe implements Provider.
func (p *UpCloud) Probe(ctx context.Context) (Strength, error) {
	if _, err := p.doc(ctx); err != nil {
		return Absent, err
	}
	return Strong, nil
}

// Fetch implements Provider.
func (p *UpCloud) Fetch(ctx context.Context) (*Data, error) {
	doc, err := p.doc(ctx)
	if err != nil {
		return nil, err
	}
	d := &Data{Provider: "UpCloud", Hostname: doc.Hostname, SSHKeys: doc.PublicKeys, Files: map[string]string{"instance_id": doc.InstanceID}}
	if doc.Region != "" {
		d.Files["region"] = doc.Region
	}
	if doc.UserData != "" {
		d.Userdata = []byte(doc.UserData)
	}
	return d, nil
}
