package metadata

import (
	"context"
	"encoding/base64"
	"strings"
)

// Oracle reads Oracle Cloud Infrastructure's IMDSv2 (/opc/v2/), which
// requires Authorization: Bearer Oracle. Instance ids start "ocid1.".
type Oracle struct {
	Base string // default http://169.254.169.254
	F    *Fetcher
}

var oracleHeader = map[string]string{"Authorization": "Bearer Oracle"}

// Name implements Provider.
func (p *Oracle) Name() string { return "oracle" }

type oracleDoc struct {
	ID                 string `json:"id"`
	Hostname           string `json:"hostname"`
	DisplayName        string `json:"displayName"`
	Region             string `json:"canonicalRegionName"`
	AvailabilityDomain string `json:"availabilityDomain"`
	Shape              string `json:"shape"`
	Metadata           struct {
		SSHAuthorizedKeys string `json:"ssh_authorized_keys"`
		UserData          string `json:"user_data"`
	} `json:"metadata"`
}

func (p *Oracle) doc(ctx context.Context) (*oracleDoc, error) {
	var doc oracleDoc
	if err := p.F.GetJSON(ctx, p.Base+"/opc/v2/instance/", oracleHeader, &doc); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(doc.ID, "ocid1.") {
		return nil, badAnswer("oracle: instance id %q is not an OCID", doc.ID)
	}
	return &doc, nil
}

// Probe implements Provider.
func (p *Oracle) Probe(ctx context.Context) (Strength, error) {
	if _, err := p.doc(ctx); err != nil {
		return Absent, err
	}
	return Strong, nil
}

// Fetch implements Provider.
func (p *Oracle) Fetch(ctx context.Context) (*Data, error) {
	doc, err := p.doc(ctx)
	if err != nil {
		return nil, err
	}
	d := &Data{Provider: "Oracle", Hostname: doc.Hostname, Files: map[string]string{"instance_id": doc.ID},
		SSHKeys: []string{doc.Metadata.SSHAuthorizedKeys}}
	if d.Hostname == "" {
		d.Hostname = doc.DisplayName
	}
	for k, v := range map[string]string{"region": doc.Region, "availability_zone": doc.AvailabilityDomain, "instance_type": doc.Shape} {
		if v != "" {
			d.Files[k] = v
		}
	}
	if s := strings.TrimSpace(doc.Metadata.UserData); s != "" {
		ud, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, badAnswer("oracle: user_data is not base64: %v", err)
		}
		d.Userdata = ud
	}
	return d, nil
}
