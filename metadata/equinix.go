package metadata

import "context"

// EquinixMetal reads Equinix Metal's (formerly Packet's) metadata service,
// an HTTPS host name: it needs DNS and CA certificates in the container.
type EquinixMetal struct {
	Base string // default https://metadata.platformequinix.com
	F    *Fetcher
}

// Name implements Provider.
func (p *EquinixMetal) Name() string { return "equinixmetal" }

type equinixDoc struct {
	ID       string   `json:"id"`
	Hostname string   `json:"hostname"`
	Plan     string   `json:"plan"`
	Facility string   `json:"facility"`
	Metro    string   `json:"metro"`
	SSHKeys  []string `json:"ssh_keys"`
}

func (p *EquinixMetal) doc(ctx context.Context) (*equinixDoc, error) {
	var doc equinixDoc
	if err := p.F.GetJSON(ctx, p.Base+"/metadata", nil, &doc); err != nil {
		return nil, err
	}
	if doc.ID == "" || doc.Plan == "" {
		return nil, badAnswer("equinixmetal: metadata has no id or plan")
	}
	return &doc, nil
}

// Probe implements Provider.
func (p *EquinixMetal) Probe(ctx context.Context) (Strength, error) {
	if _, err := p.doc(ctx); err != nil {
		return Absent, err
	}
	return Strong, nil
}

// Fetch implements Provider.
func (p *EquinixMetal) Fetch(ctx context.Context) (*Data, error) {
	doc, err := p.doc(ctx)
	if err != nil {
		return nil, err
	}
	d := &Data{Provider: "EquinixMetal", Hostname: doc.Hostname, SSHKeys: doc.SSHKeys,
		Files: map[string]string{"instance_id": doc.ID, "instance_type": doc.Plan}}
	if doc.Facility != "" {
		d.Files["availability_zone"] = doc.Facility
	}
	if doc.Metro != "" {
		d.Files["region"] = doc.Metro
	}
	if d.Userdata, err = p.F.Optional(ctx, p.Base+"/userdata", nil); err != nil {
		return nil, err
	}
	return d, nil
}
