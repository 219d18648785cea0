package metadata

import (
	"context"
	"strings"
)

// GCP reads Google Compute Engine's metadata server. Every request carries
// Metadata-Flavor: Google and every answer must carry it back: that header
// is what tells GCE apart from other services on 169.254.169.254.
type GCP struct {
	Base string // default http://169.254.169.254 (metadata.google.internal)
	F    *Fetcher
}

var gcpHeader = map[string]string{"Metadata-Flavor": "Google"}

// Name implements Provider.
func (p *GCP) Name() string { return "gcp" }

// Probe implements Provider.
func (p *GCP) Probe(ctx context.Context) (Strength, error) {
	_, h, err := p.F.Do(ctx, "GET", p.Base+"/computeMetadata/v1/instance/id", gcpHeader)
	if err != nil {
		return Absent, err
	}
	if h.Get("Metadata-Flavor") != "Google" {
		return Absent, badAnswer("gcp: answer without Metadata-Flavor: Google")
	}
	return Strong, nil
}

type gcpDoc struct {
	Instance struct {
		Hostname   string            `json:"hostname"`
		ID         jsonText          `json:"id"`
		Zone       string            `json:"zone"`
		Attributes map[string]string `json:"attributes"`
	} `json:"instance"`
	Project struct {
		ProjectID  string            `json:"projectId"`
		Attributes map[string]string `json:"attributes"`
	} `json:"project"`
}

// Fetch implements Provider.
func (p *GCP) Fetch(ctx context.Context) (*Data, error) {
	var doc gcpDoc
	if err := p.F.GetJSON(ctx, p.Base+"/computeMetadata/v1/?recursive=true&alt=json", gcpHeader, &doc); err != nil {
		return nil, err
	}
	in := doc.Instance
	d := &Data{Provider: "GCP", Hostname: in.Hostname, Files: map[string]string{}}
	if in.ID != "" {
		d.Files["instance_id"] = string(in.ID)
	}
	if in.Zone != "" {
		d.Files["availability_zone"] = in.Zone[strings.LastIndex(in.Zone, "/")+1:]
	}
	keys := []string{in.Attributes["ssh-keys"], in.Attributes["sshKeys"]}
	if in.Attributes["block-project-ssh-keys"] != "true" {
		keys = append(keys, doc.Project.Attributes["ssh-keys"], doc.Project.Attributes["sshKeys"])
	}
	for _, block := range keys {
		for _, line := range strings.Split(block, "\n") {
			// GCE keys are "user:ssh-ed25519 AAAA... comment".
			if user, key, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && !strings.Contains(user, " ") {
				d.SSHKeys = append(d.SSHKeys, key)
			}
		}
	}
	if ud, ok := in.Attributes["user-data"]; ok {
		d.Userdata = []byte(ud)
	}
	return d, nil
}
