package metadata

import (
	"context"
	"encoding/base64"
)

// Azure reads the Azure Instance Metadata Service. Requests must carry
// Metadata: true and an api-version; the answer's compute.vmId and
// compute.azEnvironment identify Azure.
type Azure struct {
	Base string // default http://169.254.169.254
	// WireServer is the fabric endpoint ReportReady talks to (default
	// DefaultWireServer).
	WireServer string
	F          *Fetcher
}

var azureHeader = map[string]string{"Metadata": "true"}

// Name implements Provider.
func (p *Azure) Name() string { return "azure" }

type azureDoc struct {
	Compute struct {
		AzEnvironment string `json:"azEnvironment"`
		VMID          string `json:"vmId"`
		Name          string `json:"name"`
		Location      string `json:"location"`
		Zone          string `json:"zone"`
		VMSize        string `json:"vmSize"`
		OSProfile     struct {
			ComputerName string `json:"computerName"`
		} `json:"osProfile"`
		PublicKeys []struct {
			KeyData string `json:"keyData"`
		} `json:"publicKeys"`
	} `json:"compute"`
}

func (p *Azure) doc(ctx context.Context) (*azureDoc, error) {
	var doc azureDoc
	if err := p.F.GetJSON(ctx, p.Base+"/metadata/instance?api-version=2021-02-01", azureHeader, &doc); err != nil {
		return nil, err
	}
	if doc.Compute.VMID == "" || doc.Compute.AzEnvironment == "" {
		return nil, badAnswer("azure: answer has no compute.vmId or compute.azEnvironment")
	}
	return &doc, nil
}

// Probe implements Provider.
func (p *Azure) Probe(ctx context.Context) (Strength, error) {
	if _, err := p.doc(ctx); err != nil {
		return Absent, err
	}
	return Strong, nil
}

// Fetch implements Provider.
func (p *Azure) Fetch(ctx context.Context) (*Data, error) {
	doc, err := p.doc(ctx)
	if err != nil {
		return nil, err
	}
	c := doc.Compute
	d := &Data{Provider: "Azure", Hostname: c.OSProfile.ComputerName, Files: map[string]string{"instance_id": c.VMID}}
	if d.Hostname == "" {
		d.Hostname = c.Name
	}
	for k, v := range map[string]string{"region": c.Location, "availability_zone": c.Zone, "instance_type": c.VMSize} {
		if v != "" {
			d.Files[k] = v
		}
	}
	for _, k := range c.PublicKeys {
		d.SSHKeys = append(d.SSHKeys, k.KeyData)
	}
	// userData is base64 text; empty when none was given.
	b, err := p.F.Optional(ctx, p.Base+"/metadata/instance/compute/userData?api-version=2021-01-01&format=text", azureHeader)
	if err != nil {
		return nil, err
	}
	if s := text(b); s != "" {
		ud, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, badAnswer("azure: userData is not base64: %v", err)
		}
		d.Userdata = ud
	}
	return d, nil
}
