package qemutest

import (
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// awsIMDS is an EC2 instance metadata service as AWS documents it: a
// session token from PUT /latest/api/token (with a TTL header), required on
// every GET (IMDSv2 only: tokenless GETs get 401).
type awsIMDS struct {
	mu   sync.Mutex
	gets []string
}

const awsToken = "AQAEAKeelTestToken=="

func (s *awsIMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut || r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
			http.Error(w, "token needs PUT with a TTL", http.StatusBadRequest)
			return
		}
		w.Write([]byte(awsToken))
		return
	}
	if r.Header.Get("X-aws-ec2-metadata-token") != awsToken {
		http.Error(w, "", http.StatusUnauthorized)
		return
	}
	s.mu.Lock()
	s.gets = append(s.gets, r.URL.Path)
	s.mu.Unlock()
	answers := map[string]string{
		"/latest/meta-data/instance-id":                 "i-0123456789abcdef0",
		"/latest/meta-data/hostname":                    "ip-10-0-2-15.ec2.internal",
		"/latest/meta-data/local-ipv4":                  "10.0.2.15",
		"/latest/meta-data/instance-type":               "t3.micro",
		"/latest/meta-data/placement/availability-zone": "eu-west-1a",
		"/latest/meta-data/public-keys/":                "0=keel-test",
		"/latest/meta-data/public-keys/0/openssh-key":   "ssh-ed25519 AAAAawsKey keel-test",
		"/latest/user-data":                             `{"app":{"entries":{"mode":{"perm":"0640","content":"from-aws"}}}}`,
	}
	a, ok := answers[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write([]byte(a))
}

// TestMetadataAWSFromGuest boots a system whose metadata agent reaches an
// AWS-shaped server on the host through QEMU's user network, after dhcpcd
// configured the guest, and checks what a service sees in /run/config.
func TestMetadataAWSFromGuest(t *testing.T) {
	require(t)
	prefix := buildImage(t, "qemu-test/testdata/metadata-aws.yml", "qemu-test/testdata/metadata-check.yml")
	imds := &awsIMDS{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: imds}
	go srv.Serve(ln)
	defer srv.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	ctx, c := bootGuest(t, 5*time.Minute, run.QEMU{Prefix: prefix,
		ExtraCmdline: "keel.metadata=aws=http://10.0.2.2:" + strconv.Itoa(port)})
	end, _ := mustExpect(ctx, t, c, 0, `MDCHECK-END|MDCHECK no /run/config`)
	begin, _, err := c.Expect(ctx, 0, regexp.MustCompile(`MDCHECK-BEGIN`))
	if err != nil {
		t.Fatalf("the check service found no /run/config\n%s", c.Tail(80))
	}
	t.Logf("/run/config in the guest:\n%s", strings.Join(c.Lines(begin, end+1), "\n"))
	for _, w := range []string{
		`MDCHECK \./provider 644 AWS`,
		`MDCHECK \./hostname 644 ip-10-0-2-15\.ec2\.internal`,
		`MDCHECK \./instance_id 644 i-0123456789abcdef0`,
		`MDCHECK \./availability_zone 644 eu-west-1a`,
		`MDCHECK \./ssh/authorized_keys 600 ssh-ed25519 AAAAawsKey keel-test`,
		`MDCHECK \./app/mode 640 from-aws`,
		`MDCHECK uts-hostname ip-10-0-2-15\.ec2\.internal`,
	} {
		if _, _, err := c.Expect(ctx, 0, regexp.MustCompile(w)); err != nil {
			t.Errorf("want a console line matching %q", w)
		}
	}
	if i, _, err := c.Expect(ctx, 0, regexp.MustCompile(`metadata: provider \S+: probe \S+, total \S+`)); err == nil {
		t.Logf("agent: %s", strings.Join(c.Lines(i, i+1), ""))
	}
	waitExit(ctx, t, c)
	imds.mu.Lock()
	defer imds.mu.Unlock()
	if len(imds.gets) == 0 {
		t.Error("the guest never made an authenticated (IMDSv2) request")
	}
}
