package metadata

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"syscall"
	"time"
)

// Scaleway reads Scaleway's metadata service on 169.254.42.42. Userdata is
// served only to requests from a privileged source port (below 1024), so
// that unprivileged processes cannot read it; the container needs
// CAP_NET_BIND_SERVICE for that.
type Scaleway struct {
	Base string // default http://169.254.42.42
	F    *Fetcher
}

// Name implements Provider.
func (p *Scaleway) Name() string { return "scaleway" }

type scalewayDoc struct {
	ID             string `json:"id"`
	Hostname       string `json:"hostname"`
	CommercialType string `json:"commercial_type"`
	PrivateIP      string `json:"private_ip"`
	PublicIP       *struct {
		Address string `json:"address"`
	} `json:"public_ip"`
	Location struct {
		ZoneID string `json:"zone_id"`
	} `json:"location"`
	SSHPublicKeys []struct {
		Key string `json:"key"`
	} `json:"ssh_public_keys"`
}

func (p *Scaleway) doc(ctx context.Context) (*scalewayDoc, error) {
	var doc scalewayDoc
	if err := p.F.GetJSON(ctx, p.Base+"/conf?format=json", nil, &doc); err != nil {
		return nil, err
	}
	if doc.ID == "" || doc.CommercialType == "" {
		return nil, badAnswer("scaleway: conf has no id or commercial_type")
	}
	return &doc, nil
}

// Probe implements Provider.
func (p *Scaleway) Probe(ctx context.Context) (Strength, error) {
	if _, err := p.doc(ctx); err != nil {
		return Absent, err
	}
	return Strong, nil
}

// Fetch implements Provider.
func (p *Scaleway) Fetch(ctx context.Context) (*Data, error) {
	doc, err := p.doc(ctx)
	if err != nil {
		return nil, err
	}
	d := &Data{Provider: "Scaleway", Hostname: doc.Hostname, Files: map[string]string{"instance_id": doc.ID, "instance_type": doc.CommercialType}}
	if doc.PrivateIP != "" {
		d.Files["local_ipv4"] = doc.PrivateIP
	}
	if doc.PublicIP != nil && doc.PublicIP.Address != "" {
		d.Files["public_ipv4"] = doc.PublicIP.Address
	}
	if doc.Location.ZoneID != "" {
		d.Files["availability_zone"] = doc.Location.ZoneID
	}
	for _, k := range doc.SSHPublicKeys {
		d.SSHKeys = append(d.SSHKeys, k.Key)
	}
	priv := &Fetcher{Limit: p.F.Limit, Client: &http.Client{
		Transport:     &http.Transport{Proxy: nil, DialContext: privilegedDial, DisableKeepAlives: true},
		CheckRedirect: noRedirect,
	}}
	if d.Userdata, err = priv.Optional(ctx, p.Base+"/user_data/cloud-init", map[string]string{"Accept": "text/plain"}); err != nil {
		return nil, err
	}
	return d, nil
}

// privilegedDial connects from a source port below 1024, trying a few
// random ones in case some are taken.
func privilegedDial(ctx context.Context, network, addr string) (net.Conn, error) {
	var err error
	for range 16 {
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{Port: 512 + rand.IntN(512)}}
		var c net.Conn
		if c, err = d.DialContext(ctx, network, addr); err == nil {
			return c, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, err
}
