package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/keel-os/keel/packer/push"
)

func TestPrintPush(t *testing.T) {
	res := &push.Result{Provider: "gcp", Name: "sys", ID: "link", Digest: "sha256:ab", Object: "gs://b/sys.img.tar.gz", BootMode: "bios"}
	var text, js bytes.Buffer
	if err := printPush(&text, res, false); err != nil {
		t.Fatal(err)
	}
	if want := "pushed: gcp image sys (bios)\nid:     link\ndigest: sha256:ab\nobject: gs://b/sys.img.tar.gz\n"; text.String() != want {
		t.Errorf("got %q, want %q", text.String(), want)
	}
	if err := printPush(&js, res, true); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"provider": "gcp", "name": "sys", "id": "link", "digest": "sha256:ab", "object": "gs://b/sys.img.tar.gz", "bootMode": "bios"} {
		if got[k] != v {
			t.Errorf("--json: got %s = %v, want %q", k, got[k], v)
		}
	}
	if _, ok := got["reused"]; ok {
		t.Errorf("--json: got reused in a fresh push, want it left out")
	}

	// vcenter reads no boot mode: no empty parentheses.
	text.Reset()
	iso := &push.Result{Provider: "vcenter", Name: "sys.iso", ID: "[ds] keel/sys.iso", Digest: "sha256:ab", Object: "https://vc/folder/keel/sys.iso", Reused: true}
	if err := printPush(&text, iso, false); err != nil {
		t.Fatal(err)
	}
	if want := "already there: vcenter image sys.iso\nid:     [ds] keel/sys.iso\ndigest: sha256:ab\nobject: https://vc/folder/keel/sys.iso\n"; text.String() != want {
		t.Errorf("got %q, want %q", text.String(), want)
	}
}

// TestPushArgs checks the command line before any cloud is called: the
// errors are one line saying what to give.
func TestPushArgs(t *testing.T) {
	t.Setenv("GOOGLE_CLOUD_PROJECT", "")
	t.Setenv("CLOUDSDK_CORE_PROJECT", "")
	t.Setenv("AZURE_SUBSCRIPTION_ID", "")
	t.Setenv("AZURE_DEFAULTS_LOCATION", "")
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "")
	for _, v := range []string{"GOVC_URL", "VCURL", "GOVC_USERNAME", "GOVC_PASSWORD", "GOVC_DATACENTER", "VCDATACENTER", "GOVC_DATASTORE", "VCDATASTORE", "VCHOST"} {
		t.Setenv(v, "")
	}
	for _, tc := range []struct{ args, want string }{
		{"push gcp", "accepts 1 arg"},
		{"push gcp --bucket b x.img.tar.gz", "no project: give --project"},
		{"push gcp --project p x.img.tar.gz", "no bucket: give --bucket"},
		{"push gcp -project p -bucket b -img-name Bad_Name x.img.tar.gz", `image name "Bad_Name" is not valid`},
		{"push aws x.raw", "no bucket: give --bucket"},
		{"push aws --bucket b --arch sparc sys.raw", `--arch "sparc": give x86_64 or arm64`},
		{"push aws --bucket b --name x x.raw", `AMI name "x" is not valid`},
		{"push azure --resource-group rg --location westeurope --storage-account acct x.vhd", "no subscription: give --subscription"},
		{"push azure --subscription s --location westeurope --storage-account acct x.vhd", "no resource group: give --resource-group"},
		{"push azure --subscription s --resource-group rg --storage-account Acct x.vhd", "no location: give --location"},
		{"push azure --subscription s --resource-group rg --location l --storage-account Acct x.vhd", `storage account name "Acct" is not valid`},
		{"push openstack --arch sparc x.qcow2", `--arch "sparc": give x86_64 or aarch64`},
		{"push openstack --visibility everyone x.qcow2", `--visibility "everyone"`},
		{"push vcenter x.iso", "no URL: give --url"},
		{"push vcenter --url https://vc.example/sdk x.iso", "set GOVC_USERNAME and GOVC_PASSWORD"},
		{"push vcenter --url https://u:pw@vc.example/sdk --folder ../up x.iso", `--folder "../up" is not valid`},
		{"push vcenter --url https://u:pw@vc.example/sdk --name a/b x.iso", `file name "a/b" is not valid`},
		{"push scaleway x.raw", `unknown provider "scaleway": keel push has aws, azure, gcp, openstack and vcenter`},
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
