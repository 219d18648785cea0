package metadata

import "context"

// Vultr reads Vultr's metadata service: /v1.json (with an instanceid) and
// the userdata at /latest/user-data. Vultr also serves EC2's v1 paths.
type Vultr struct {
	Base string // default http://169.254.169.254
	F    *Fetcher
}

// Name implements Provider.
func (p *Vultr) Name() string { return "vultr" }

type vultrDoc struct {
	Hostname     string   `json:"hostname"`
	InstanceID   string   `json:"instanceid"`
	InstanceV2ID string   `json:"instance-v2-id"`
	PublicKeys   []string `json:"public-keys"`
	Region       struct {
		Code string `json:"regioncode"`
	} `json:"region"`
}

func (p *Vultr) doc(ctx context.Context) (*vultrDoc, error) {
	var doc vultrDoc
	if err := p.F.GetJSON(ctx, p.Base+"/v1.json", nil, &doc); err != nil {
		return nil, err
	}
	if doc.InstanceID == "" && doc.InstanceV2ID == "" {
		return nil, badAnswer("vultr: v1.json has no instanceid")
	}
	return &doc, nil
}

// Probe implements Provider.
func (p *Vultr) Probe(ctx context.Context) (Strength, error) {
	if _, err := p.doc(ctx); err != nil {
		return Absent, err
	}
	return Strong, nil
}

// Fetch implements Provider.
func (p *Vultr) Fetch(ctx context.Context) (*Data, error) {
	doc, err := p.doc(ctx)
	if err != nil {
		return nil, err
	}
	id := doc.InstanceV2ID
	if id == "" {
		id = doc.InstanceID
	}
	d := &Data{Provider: "Vultr", Hostname: doc.Hostname, SSHKeys: doc.PublicKeys, Files: map[string]string{"instance_id": id}}
	if doc.Region.Code != "" {
		d.Files["region"] = doc.Region.Code
	}
	if d.Userdata, err = p.F.Optional(ctx, p.Base+"/latest/user-data", nil); err != nil {
		return nil, err
	}
	return d, nil
}
