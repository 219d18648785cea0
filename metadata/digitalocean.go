package metadata

import "context"

// DigitalOcean reads the droplet metadata service (/metadata/v1.json). A
// droplet_id tells it apart from UpCloud, which serves the same path.
type DigitalOcean struct {
	Base string // default http://169.254.169.254
	F    *Fetcher
}

// Name implements Provider.
func (p *DigitalOcean) Name() string { return "digitalocean" }

type doDoc struct {
	DropletID  jsonText `json:"droplet_id"`
	Hostname   string   `json:"hostname"`
	Region     string   `json:"region"`
	PublicKeys []string `json:"public_keys"`
	UserData   *string  `json:"user_data"`
	Interfaces struct {
		Public []struct {
			IPv4 struct {
				IP string `json:"ip_address"`
			} `json:"ipv4"`
		} `json:"public"`
		Private []struct {
			IPv4 struct {
				IP string `json:"ip_address"`
			} `json:"ipv4"`
		} `json:"private"`
	} `json:"interfaces"`
}

func (p *DigitalOcean) doc(ctx context.Context) (*doDoc, error) {
	var doc doDoc
	if err := p.F.GetJSON(ctx, p.Base+"/metadata/v1.json", nil, &doc); err != nil {
		return nil, err
	}
	if doc.DropletID == "" || doc.DropletID == "0" {
		return nil, badAnswer("digitalocean: answer has no droplet_id")
	}
	return &doc, nil
}

// Probe implements Provider.
func (p *DigitalOcean) Probe(ctx context.Context) (Strength, error) {
	if _, err := p.doc(ctx); err != nil {
		return Absent, err
	}
	return Strong, nil
}

// Fetch implements Provider.
func (p *DigitalOcean) Fetch(ctx context.Context) (*Data, error) {
	doc, err := p.doc(ctx)
	if err != nil {
		return nil, err
	}
	d := &Data{Provider: "DigitalOcean", Hostname: doc.Hostname, SSHKeys: doc.PublicKeys,
		Files: map[string]string{"instance_id": string(doc.DropletID)}}
	if doc.Region != "" {
		d.Files["region"] = doc.Region
	}
	if len(doc.Interfaces.Public) > 0 && doc.Interfaces.Public[0].IPv4.IP != "" {
		d.Files["public_ipv4"] = doc.Interfaces.Public[0].IPv4.IP
	}
	if len(doc.Interfaces.Private) > 0 && doc.Interfaces.Private[0].IPv4.IP != "" {
		d.Files["local_ipv4"] = doc.Interfaces.Private[0].IPv4.IP
	}
	if doc.UserData != nil && *doc.UserData != "" {
		d.Userdata = []byte(*doc.UserData)
	}
	return d, nil
}
