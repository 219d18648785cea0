package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmware/govmomi/simulator"
)

// TestPushVCenter runs keel push vcenter against govmomi's vCenter
// simulator: the --json result, then a re-push that finds the file there.
func TestPushVCenter(t *testing.T) {
	model := simulator.VPX()
	if err := model.Create(); err != nil {
		t.Fatal(err)
	}
	defer model.Remove()
	model.Service.TLS = new(tls.Config)
	model.Service.Listen = &url.URL{User: url.UserPassword("keel", "s3cret")}
	s := model.Service.NewServer()
	defer s.Close()
	u := *s.URL
	u.User = nil
	t.Setenv("GOVC_URL", u.String())
	t.Setenv("GOVC_USERNAME", "keel")
	t.Setenv("GOVC_PASSWORD", "s3cret")
	img := filepath.Join(t.TempDir(), "sys.iso")
	if err := os.WriteFile(img, []byte("an iso"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, wantReused := range []bool{false, true} {
		var stdout, stderr bytes.Buffer
		args := []string{"push", "vcenter", "--insecure", "--json", "--datastore", "LocalDS_0", img}
		if code := Run(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		var got struct {
			Provider, Name, ID, Digest string
			Reused                     bool
		}
		if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
			t.Fatalf("--json: %v in %q", err, stdout.String())
		}
		if got.Provider != "vcenter" || got.Name != "sys.iso" || got.ID != "[LocalDS_0] keel/sys.iso" || !strings.HasPrefix(got.Digest, "sha256:") || got.Reused != wantReused {
			t.Errorf("got %+v, want vcenter sys.iso in [LocalDS_0] keel/, a sha256 digest, reused %v", got, wantReused)
		}
	}
}

// TestPushVCenterHelpHidesPassword: a password in GOVC_URL must not show
// as a flag default in the help.
func TestPushVCenterHelpHidesPassword(t *testing.T) {
	t.Setenv("GOVC_URL", "https://keel:s3cret@vc.example/sdk")
	t.Setenv("VCURL", "https://keel:s3cret@vc.example/sdk")
	var stdout, stderr bytes.Buffer
	if code := Run(context.Background(), []string{"push", "vcenter", "--help"}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if out := stdout.String() + stderr.String(); !strings.Contains(out, "--url") || strings.Contains(out, "s3cret") {
		t.Errorf("got help %q, want --url described without the password", out)
	}
}
