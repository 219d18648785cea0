package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/cloudrun"
	"github.com/keel-os/keel/packer/cloudtest"
)

// TestRunCloudArgs checks keel run gcp and keel rm's command lines before
// any cloud is called: each error is one line saying what to give.
func TestRunCloudArgs(t *testing.T) {
	for _, v := range []string{"GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "AZURE_SUBSCRIPTION_ID", "AZURE_DEFAULTS_GROUP", "AZURE_DEFAULTS_LOCATION"} {
		t.Setenv(v, "")
	}
	dir := t.TempDir()
	priv := filepath.Join(dir, "id_ed25519")
	os.WriteFile(priv, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n"), 0o600)
	for _, tc := range []struct{ args, want string }{
		{"run gcp", "accepts 1 arg"},
		{"run gcp sys", "no project: give --project"},
		{"run gcp --project p --zone EU sys", `zone "EU" is not valid`},
		{"run gcp --project p --name Bad_Name sys", `instance name "Bad_Name" is not valid`},
		{"run gcp --project p --data x --data-file y sys", "give --data or --data-file, not both"},
		{"run gcp --project p --data-file " + filepath.Join(dir, "none") + " sys", "--data-file: stat"},
		{"run gcp --project p --ssh-key " + priv + " sys", "is not an OpenSSH public key (give the .pub file)"},
		{"run aws --machine t3 sys", `instance type "t3" is not valid`},
		{"run aws --zone 1 sys", `zone "1" is not valid`},
		{"run aws --ssh-key k.pub sys", "unknown flag: --ssh-key"},
		{"rm gcp vm1", "no project: give --project"},
		{"rm openstack vm1", `unknown provider "openstack"`},
		{"run azure --subscription s sys", "no resource group: give --resource-group"},
		{"run azure --subscription s --resource-group rg --name bad_name sys", `VM name "bad_name" is not valid`},
		{"run azure --subscription s --resource-group rg --size x.y sys", `VM size "x.y" is not valid`},
		{"run azure --subscription s --resource-group rg --data-file " + filepath.Join(dir, "none") + " sys", "--data-file: stat"},
		{"rm azure --subscription s vm1", "no resource group: give --resource-group"},
	} {
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), strings.Fields(tc.args), strings.NewReader(""), &stdout, &stderr); code == 0 {
			t.Errorf("%s: exit 0, want an error", tc.args)
		}
		if got := stderr.String(); !strings.Contains(got, tc.want) || strings.Count(got, "\n") != 1 {
			t.Errorf("%s: got %q, want one line containing %q", tc.args, got, tc.want)
		}
	}
}

// TestRunAWS runs keel run aws and keel rm aws as a user does, against a
// local EC2 reached through the SDK's standard AWS_ENDPOINT_URL_EC2: the
// console goes to stdout, the steps to stderr, --detach prints the ID
// alone, --data reaches RunInstances, rm terminates.
func TestRunAWS(t *testing.T) {
	cloudPoll = time.Millisecond
	t.Cleanup(func() { cloudPoll = 0 })
	for _, tc := range []struct {
		args       string
		stdout     string
		wantCalled string
		left       int
	}{
		{"run aws --data hello sys", "Booting Keel\npower off\n", "TerminateInstances", 0},
		{"run aws --detach --data hello sys", cloudtest.Instance + "\n", "RunInstances", 1},
	} {
		f := cloudtest.NewEC2("Booting Keel\npower off\n", 5, 100)
		srv := httptest.NewServer(f)
		t.Cleanup(srv.Close)
		cloudtest.AWSEnv(t, map[string]string{"EC2": srv.URL})
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), strings.Fields(tc.args), strings.NewReader(""), &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.args, code, stderr.String())
		}
		if stdout.String() != tc.stdout {
			t.Errorf("%s: got stdout %q, want %q", tc.args, stdout.String(), tc.stdout)
		}
		if !strings.Contains(stderr.String(), "starting t3.micro instance sys-") {
			t.Errorf("%s: got stderr %q, want the steps", tc.args, stderr.String())
		}
		if ud, _ := base64.StdEncoding.DecodeString(f.Run.Get("UserData")); string(ud) != "hello" {
			t.Errorf("%s: got userdata %q, want hello", tc.args, ud)
		}
		if !slices.Contains(f.Calls, tc.wantCalled) || len(f.State) != tc.left {
			t.Errorf("%s: got calls %q, instances %v", tc.args, f.Calls, f.State)
		}
		if tc.left == 1 {
			stderr.Reset()
			if code := Run(context.Background(), []string{"rm", "aws", cloudtest.Instance}, strings.NewReader(""), &stdout, &stderr); code != 0 || len(f.State) != 0 {
				t.Errorf("rm aws: exit %d, %s, instances %v left", code, stderr.String(), f.State)
			}
		}
	}
}

// TestRunAzure runs keel run azure and keel rm azure as a user does,
// against a local ARM: the serial log goes to stdout, the steps to
// stderr, --detach prints the name alone and rm deletes what run made.
func TestRunAzure(t *testing.T) {
	cloudPoll = time.Millisecond
	f := cloudtest.NewARM()
	f.SerialLog = "Booting Keel\npower off\n"
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	f.Put("Microsoft.Compute/images/sys", map[string]any{"location": "westeurope"})
	azureTest = func(a *cloudrun.Azure) {
		a.Credential, a.ARMOptions, a.HTTPClient = cloudtest.Token{}, cloudtest.ARMOptions(srv), srv.Client()
	}
	t.Cleanup(func() { cloudPoll, azureTest = 0, nil })
	scope := "--subscription " + cloudtest.Sub + " --resource-group " + cloudtest.RG
	for _, tc := range []struct {
		args   string
		stdout string
		left   int // resources left besides the image
	}{
		{"run azure " + scope + " --data hello --name vm1 sys", "Booting Keel\npower off\n", 0},
		{"run azure " + scope + " --detach --name vm2 sys", "vm2\n", 5},
		{"rm azure " + scope + " vm2", "", 0},
	} {
		var stdout, stderr bytes.Buffer
		if code := Run(context.Background(), strings.Fields(tc.args), strings.NewReader(""), &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.args, code, stderr.String())
		}
		if stdout.String() != tc.stdout {
			t.Errorf("%s: got stdout %q, want %q", tc.args, stdout.String(), tc.stdout)
		}
		if !strings.Contains(stderr.String(), "deleting VM vm") {
			if tc.left == 0 {
				t.Errorf("%s: got stderr %q, want the deletion among the steps", tc.args, stderr.String())
			}
		}
		if got := len(f.Resources) - 1; got != tc.left {
			t.Errorf("%s: got %d resources left, want %d", tc.args, got, tc.left)
		}
	}
}
