package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunCloudArgs checks keel run gcp and keel rm's command lines before
// any cloud is called: each error is one line saying what to give.
func TestRunCloudArgs(t *testing.T) {
	t.Setenv("GOOGLE_CLOUD_PROJECT", "")
	t.Setenv("CLOUDSDK_CORE_PROJECT", "")
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
		{"rm azure vm1", `unknown provider "azure"`},
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
