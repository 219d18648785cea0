package metadata

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// fakeCloud serves one cloud's documented paths, headers and token flow.
type fakeCloud struct {
	name string
	// mk makes the provider pointed at base.
	mk   func(base string, f *Fetcher) Provider
	mux  func(mux *http.ServeMux)
	want Data
}

func serveText(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }
}

func needHeader(k, v string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(k) != v {
			http.Error(w, "missing "+k, http.StatusBadRequest)
			return
		}
		h(w, r)
	}
}

const awsToken = "AQAEAtoken=="

func awsMux(imdsv2 bool) func(*http.ServeMux) {
	return func(m *http.ServeMux) {
		meta := map[string]string{
			"hostname": "ip-10-0-0-5.ec2.internal", "local-hostname": "ip-10-0-0-5.ec2.internal", "instance-id": "i-0abc",
			"instance-type": "t3.micro", "local-ipv4": "10.0.0.5", "public-ipv4": "3.3.3.3", "placement/availability-zone": "us-east-1a",
			"public-keys/": "0=main", "public-keys/0/openssh-key": "ssh-ed25519 AAAAaws main",
		}
		check := func(h http.HandlerFunc) http.HandlerFunc {
			if !imdsv2 {
				return h
			}
			return needHeader("X-aws-ec2-metadata-token", awsToken, h)
		}
		if imdsv2 {
			m.HandleFunc("PUT /latest/api/token", needHeader("X-aws-ec2-metadata-token-ttl-seconds", "21600", serveText(awsToken)))
		}
		for k, v := range meta {
			m.HandleFunc("GET /latest/meta-data/"+k, check(serveText(v)))
		}
		m.HandleFunc("GET /latest/user-data", check(serveText("#!/bin/sh\necho aws\n")))
	}
}

var clouds = []fakeCloud{
	{name: "aws", mk: func(b string, f *Fetcher) Provider { return &AWS{Base: b, F: f} }, mux: awsMux(true),
		want: Data{Provider: "AWS", Hostname: "ip-10-0-0-5.ec2.internal", SSHKeys: []string{"ssh-ed25519 AAAAaws main"},
			Userdata: []byte("#!/bin/sh\necho aws\n"), Files: map[string]string{"instance_id": "i-0abc", "instance_type": "t3.micro",
				"local_ipv4": "10.0.0.5", "public_ipv4": "3.3.3.3", "availability_zone": "us-east-1a", "local_hostname": "ip-10-0-0-5.ec2.internal"}}},
	{name: "gcp", mk: func(b string, f *Fetcher) Provider { return &GCP{Base: b, F: f} },
		mux: func(m *http.ServeMux) {
			g := func(body string) http.HandlerFunc {
				return needHeader("Metadata-Flavor", "Google", func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Metadata-Flavor", "Google")
					w.Write([]byte(body))
				})
			}
			m.HandleFunc("GET /computeMetadata/v1/instance/id", g("4520031799277581759"))
			m.HandleFunc("GET /computeMetadata/v1/", func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("recursive") != "true" {
					http.NotFound(w, r)
					return
				}
				g(`{"instance":{"hostname":"vm1.c.proj.internal","id":4520031799277581759,"zone":"projects/1/zones/europe-west1-b",
				"attributes":{"ssh-keys":"alice:ssh-rsa AAAAgcp alice","user-data":"hello gcp"}},
				"project":{"attributes":{"ssh-keys":"bob:ssh-ed25519 AAAAproj bob"}}}`)(w, r)
			})
		},
		want: Data{Provider: "GCP", Hostname: "vm1.c.proj.internal", SSHKeys: []string{"ssh-rsa AAAAgcp alice", "ssh-ed25519 AAAAproj bob"},
			Userdata: []byte("hello gcp"), Files: map[string]string{"instance_id": "4520031799277581759", "availability_zone": "europe-west1-b"}}},
	{name: "azure", mk: func(b string, f *Fetcher) Provider { return &Azure{Base: b, F: f} },
		mux: func(m *http.ServeMux) {
			m.HandleFunc("GET /metadata/instance", needHeader("Metadata", "true", func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("api-version") == "" {
					http.Error(w, "api-version required", 400)
					return
				}
				w.Write([]byte(`{"compute":{"azEnvironment":"AzurePublicCloud","vmId":"02aab8a4","name":"vm-az","location":"westeurope",
				"zone":"1","vmSize":"Standard_B1s","osProfile":{"computerName":"az-host"},"publicKeys":[{"keyData":"ssh-rsa AAAAaz","path":"/home/u/.ssh/authorized_keys"}]}}`))
			}))
			m.HandleFunc("GET /metadata/instance/compute/userData", needHeader("Metadata", "true",
				serveText(base64.StdEncoding.EncodeToString([]byte("hello azure")))))
		},
		want: Data{Provider: "Azure", Hostname: "az-host", SSHKeys: []string{"ssh-rsa AAAAaz"}, Userdata: []byte("hello azure"),
			Files: map[string]string{"instance_id": "02aab8a4", "region": "westeurope", "availability_zone": "1", "instance_type": "Standard_B1s"}}},
	{name: "oracle", mk: func(b string, f *Fetcher) Provider { return &Oracle{Base: b, F: f} },
		mux: func(m *http.ServeMux) {
			m.HandleFunc("GET /opc/v2/instance/", needHeader("Authorization", "Bearer Oracle", serveText(`{"id":"ocid1.instance.oc1.phx.abc",
			"hostname":"oci-host","displayName":"x","canonicalRegionName":"us-phoenix-1","availabilityDomain":"AD-1","shape":"VM.Standard.E4.Flex",
			"metadata":{"ssh_authorized_keys":"ssh-rsa AAAAoci","user_data":"`+base64.StdEncoding.EncodeToString([]byte("hello oci"))+`"}}`)))
		},
		want: Data{Provider: "Oracle", Hostname: "oci-host", SSHKeys: []string{"ssh-rsa AAAAoci"}, Userdata: []byte("hello oci"),
			Files: map[string]string{"instance_id": "ocid1.instance.oc1.phx.abc", "region": "us-phoenix-1", "availability_zone": "AD-1", "instance_type": "VM.Standard.E4.Flex"}}},
	{name: "digitalocean", mk: func(b string, f *Fetcher) Provider { return &DigitalOcean{Base: b, F: f} },
		mux: func(m *http.ServeMux) {
			m.HandleFunc("GET /metadata/v1.json", serveText(`{"droplet_id":2756294,"hostname":"do-host","region":"nyc3",
			"public_keys":["ssh-rsa AAAAdo"],"user_data":"hello do","interfaces":{"public":[{"ipv4":{"ip_address":"104.1.1.1"}}],"private":[{"ipv4":{"ip_address":"10.1.1.1"}}]}}`))
		},
		want: Data{Provider: "DigitalOcean", Hostname: "do-host", SSHKeys: []string{"ssh-rsa AAAAdo"}, Userdata: []byte("hello do"),
			Files: map[string]string{"instance_id": "2756294", "region": "nyc3", "public_ipv4": "104.1.1.1", "local_ipv4": "10.1.1.1"}}},
	{name: "upcloud", mk: func(b string, f *Fetcher) Provider { return &UpCloud{Base: b, F: f} },
		mux: func(m *http.ServeMux) {
			m.HandleFunc("GET /metadata/v1.json", serveText(`{"cloud_name":"upcloud","instance_id":"00d1b5b2","hostname":"uc-host",
			"region":"fi-hel1","public_keys":["ssh-rsa AAAAuc"],"user_data":"hello upcloud"}`))
		},
		want: Data{Provider: "UpCloud", Hostname: "uc-host", SSHKeys: []string{"ssh-rsa AAAAuc"}, Userdata: []byte("hello upcloud"),
			Files: map[string]string{"instance_id": "00d1b5b2", "region": "fi-hel1"}}},
	{name: "hetzner", mk: func(b string, f *Fetcher) Provider { return &Hetzner{Base: b, F: f} },
		mux: func(m *http.ServeMux) {
			m.HandleFunc("GET /hetzner/v1/metadata/instance-id", serveText("1234567"))
			m.HandleFunc("GET /hetzner/v1/metadata", serveText("availability-zone: fsn1-dc14\nhostname: hz-host\ninstance-id: 1234567\n"+
				"public-ipv4: 5.5.5.5\nregion: eu-central\npublic-keys:\n- ssh-ed25519 AAAAhz\n"))
			m.HandleFunc("GET /hetzner/v1/userdata", serveText("hello hetzner"))
		},
		want: Data{Provider: "Hetzner", Hostname: "hz-host", SSHKeys: []string{"ssh-ed25519 AAAAhz"}, Userdata: []byte("hello hetzner"),
			Files: map[string]string{"instance_id": "1234567", "public_ipv4": "5.5.5.5", "region": "eu-central", "availability_zone": "fsn1-dc14"}}},
	{name: "openstack", mk: func(b string, f *Fetcher) Provider { return &OpenStack{Base: b, F: f} },
		mux: func(m *http.ServeMux) {
			m.HandleFunc("GET /openstack/latest/meta_data.json", serveText(`{"uuid":"83679162-1378-4288-a2d4-70e13ec132aa",
			"hostname":"os-host.novalocal","name":"os","availability_zone":"nova","public_keys":{"mykey":"ssh-rsa AAAAos"}}`))
			m.HandleFunc("GET /openstack/latest/user_data", serveText("hello openstack"))
			// Nova imitates EC2 v1 (and refuses the IMDSv2 token).
			awsMux(false)(m)
		},
		want: Data{Provider: "Openstack", Hostname: "os-host.novalocal", SSHKeys: []string{"ssh-rsa AAAAos"}, Userdata: []byte("hello openstack"),
			Files: map[string]string{"instance_id": "83679162-1378-4288-a2d4-70e13ec132aa", "availability_zone": "nova"}}},
	{name: "vultr", mk: func(b string, f *Fetcher) Provider { return &Vultr{Base: b, F: f} },
		mux: func(m *http.ServeMux) {
			m.HandleFunc("GET /v1.json", serveText(`{"hostname":"vu-host","instanceid":"a1b2","instance-v2-id":"6f1c-uuid",
			"public-keys":["ssh-rsa AAAAvu"],"region":{"regioncode":"AMS"}}`))
			awsMux(false)(m)
		},
		want: Data{Provider: "Vultr", Hostname: "vu-host", SSHKeys: []string{"ssh-rsa AAAAvu"}, Userdata: []byte("#!/bin/sh\necho aws\n"),
			Files: map[string]string{"instance_id": "6f1c-uuid", "region": "AMS"}}},
	{name: "scaleway", mk: func(b string, f *Fetcher) Provider { return &Scaleway{Base: b, F: f} },
		mux: func(m *http.ServeMux) {
			m.HandleFunc("GET /conf", func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Query().Get("format") != "json" {
					w.Write([]byte("ID=x\n"))
					return
				}
				w.Write([]byte(`{"id":"9a1b","hostname":"sw-host","commercial_type":"DEV1-S","private_ip":"10.2.2.2",
				"public_ip":{"address":"51.1.1.1"},"location":{"zone_id":"fr-par-1"},"ssh_public_keys":[{"key":"ssh-rsa AAAAsw","fingerprint":"x"}]}`))
			})
			m.HandleFunc("GET /user_data/cloud-init", serveText("hello scaleway"))
		},
		want: Data{Provider: "Scaleway", Hostname: "sw-host", SSHKeys: []string{"ssh-rsa AAAAsw"}, Userdata: []byte("hello scaleway"),
			Files: map[string]string{"instance_id": "9a1b", "instance_type": "DEV1-S", "local_ipv4": "10.2.2.2", "public_ipv4": "51.1.1.1", "availability_zone": "fr-par-1"}}},
	{name: "equinixmetal", mk: func(b string, f *Fetcher) Provider { return &EquinixMetal{Base: b, F: f} },
		mux: func(m *http.ServeMux) {
			m.HandleFunc("GET /metadata", serveText(`{"id":"e7b1","hostname":"em-host","plan":"c3.small.x86","facility":"da11","metro":"da","ssh_keys":["ssh-rsa AAAAem"]}`))
			m.HandleFunc("GET /userdata", serveText("hello equinix"))
		},
		want: Data{Provider: "EquinixMetal", Hostname: "em-host", SSHKeys: []string{"ssh-rsa AAAAem"}, Userdata: []byte("hello equinix"),
			Files: map[string]string{"instance_id": "e7b1", "instance_type": "c3.small.x86", "availability_zone": "da11", "region": "da"}}},
}

func startCloud(t *testing.T, c fakeCloud) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	c.mux(mux)
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func TestProvidersFetch(t *testing.T) {
	for _, c := range clouds {
		t.Run(c.name, func(t *testing.T) {
			s := startCloud(t, c)
			p := c.mk(s.URL, NewFetcher(DefaultLimits.Response))
			if p.Name() != c.name {
				t.Errorf("Name: got %q, want %q", p.Name(), c.name)
			}
			st, err := p.Probe(context.Background())
			if err != nil || st != Strong {
				t.Fatalf("Probe on its own cloud: got %v, %v; want strong", st, err)
			}
			d, err := p.Fetch(context.Background())
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if !reflect.DeepEqual(*d, c.want) {
				t.Errorf("Fetch:\ngot  %+v\nwant %+v", *d, c.want)
			}
		})
	}
}

// TestProvidersNotFooled probes every provider against every other cloud:
// none may answer strongly anywhere but at home, and only AWS may answer
// (weakly) where EC2's v1 paths are imitated.
func TestProvidersNotFooled(t *testing.T) {
	for _, home := range clouds {
		s := startCloud(t, home)
		for _, c := range clouds {
			if c.name == home.name {
				continue
			}
			p := c.mk(s.URL, NewFetcher(DefaultLimits.Response))
			st, err := p.Probe(context.Background())
			if st == Strong || (st == Weak && c.name != "aws") {
				t.Errorf("%s probed on %s: got %v (err %v), want absent", c.name, home.name, st, err)
			}
			if st == Absent && err == nil {
				t.Errorf("%s probed on %s: absent without an error", c.name, home.name)
			}
		}
	}
}

func TestChooserPicksHomeCloud(t *testing.T) {
	for _, home := range clouds {
		t.Run(home.name, func(t *testing.T) {
			s := startCloud(t, home)
			var ps []Provider
			for _, c := range clouds {
				ps = append(ps, c.mk(s.URL, NewFetcher(DefaultLimits.Response)))
			}
			ch := &Chooser{Providers: ps, Timing: DefaultTiming}
			p, _, err := ch.Choose(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if p.Name() != home.name {
				t.Errorf("chose %s, want %s", p.Name(), home.name)
			}
		})
	}
}

func TestAWSFallsBackToIMDSv1(t *testing.T) {
	mux := http.NewServeMux()
	awsMux(false)(mux)
	s := httptest.NewServer(mux)
	defer s.Close()
	p := &AWS{Base: s.URL, F: NewFetcher(1 << 20)}
	st, err := p.Probe(context.Background())
	if err != nil || st != Weak {
		t.Fatalf("Probe: got %v, %v; want weak", st, err)
	}
	d, err := p.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if d.Files["instance_id"] != "i-0abc" || string(d.Userdata) != "#!/bin/sh\necho aws\n" {
		t.Errorf("v1 fetch: got %+v", d)
	}
}

func TestProviderFailures(t *testing.T) {
	big := strings.Repeat("x", 2048)
	cases := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"404", http.NotFound},
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }},
		{"garbage", serveText("\x00\x01<html>not json{{{")},
		{"oversize", serveText(big)},
		{"redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "http://example.com/", 302) }},
	}
	for _, tc := range cases {
		s := httptest.NewServer(tc.handler)
		for _, c := range clouds {
			p := c.mk(s.URL, NewFetcher(1024))
			st, err := p.Probe(context.Background())
			if st != Absent || err == nil {
				t.Errorf("%s against %s: got %v, %v; want absent with an error", c.name, tc.name, st, err)
			} else if !Definite(err) {
				t.Errorf("%s against %s: error %v is not definite, so it would be retried", c.name, tc.name, err)
			}
			if _, err := p.Fetch(context.Background()); err == nil {
				t.Errorf("%s Fetch against %s: no error", c.name, tc.name)
			}
		}
		s.Close()
	}
}

func TestProviderTimeout(t *testing.T) {
	release := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer s.Close()
	defer close(release)
	for _, c := range clouds {
		p := c.mk(s.URL, NewFetcher(1024))
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // an attempt whose deadline has passed
		st, err := p.Probe(ctx)
		if st != Absent || err == nil || Definite(err) {
			t.Errorf("%s on a silent server: got %v, %v; want absent with a retryable error", c.name, st, err)
		}
	}
}

func TestOversizeUserdata(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hetzner/v1/metadata/instance-id", serveText("1"))
	mux.HandleFunc("GET /hetzner/v1/metadata", serveText("hostname: h\ninstance-id: 1\n"))
	mux.HandleFunc("GET /hetzner/v1/userdata", serveText(strings.Repeat("u", 5000)))
	s := httptest.NewServer(mux)
	defer s.Close()
	_, err := (&Hetzner{Base: s.URL, F: NewFetcher(4096)}).Fetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("got %v, want a too-large error", err)
	}
}
