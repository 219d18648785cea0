package qemutest

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/internal/cidata"
	"github.com/keel-os/keel/packer/run"
)

// TestMetadataBoots boots examples/metadata.yml with configuration handed
// over by QEMU fw_cfg and by a NoCloud cidata disk, and checks that a
// service sees what the agent wrote to /run/config and that the hostname was
// applied. It logs the agent's probe time, probing and explicit.
func TestMetadataBoots(t *testing.T) {
	require(t)
	prefix := buildImage(t, "examples/metadata.yml", "qemu-test/testdata/metadata-check.yml")
	dir := t.TempDir()

	cloudConfig := "#cloud-config\nhostname: fwhost\nssh_authorized_keys:\n  - ssh-ed25519 AAAAfwcfg test\n" +
		"write_files:\n  - path: /run/config/app/conf\n    content: from-cloud-config\n    permissions: '0640'\n" +
		"  - path: /var/lib/app.conf\n    content: var-file\npackages: [nginx]\n"
	udFile := filepath.Join(dir, "userdata")
	if err := os.WriteFile(udFile, []byte(cloudConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(dir, "cidata.iso")
	f, err := os.Create(iso)
	if err != nil {
		t.Fatal(err)
	}
	tree := `{"hello":{"entries":{"greeting":{"perm":"0600","content":"world"}}},"../escape":{"content":"no"}}`
	if err := cidata.WriteISO(f, cidata.Label, cidata.Seed([]byte(tree), "iid-keel-1", "isohost")); err != nil {
		t.Fatal(err)
	}
	f.Close()

	cases := []struct {
		name    string
		cmdline string
		extra   []string
		want    []string
	}{
		{"fw_cfg", "", []string{"-fw_cfg", "name=opt/keel/userdata,file=" + udFile}, []string{
			`MDCHECK \./provider 644 fw_cfg`,
			`MDCHECK \./hostname 644 fwhost`,
			`MDCHECK \./ssh/authorized_keys 600 ssh-ed25519 AAAAfwcfg test\|`,
			`MDCHECK \./app/conf 640 from-cloud-config`,
			`MDCHECK \./userdata 600 #cloud-config`,
			`MDCHECK uts-hostname fwhost`,
			`packages is not supported`,
		}},
		{"cidata", "", []string{"-drive", "file=" + iso + ",if=virtio,format=raw,readonly=on"}, []string{
			`MDCHECK \./provider 644 NoCloud`,
			`MDCHECK \./hostname 644 isohost`,
			`MDCHECK \./instance_id 644 iid-keel-1`,
			`MDCHECK \./hello/greeting 600 world`,
			`MDCHECK uts-hostname isohost`,
			`skipping "\.\./escape"`,
		}},
		{"cidata-explicit", "keel.metadata=nocloud", []string{"-drive", "file=" + iso + ",if=virtio,format=raw,readonly=on"}, []string{
			`MDCHECK \./hello/greeting 600 world`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, c := bootGuest(t, 4*time.Minute, run.QEMU{Prefix: prefix, ExtraCmdline: tc.cmdline}, tc.extra...)
			end, _ := mustExpect(ctx, t, c, 0, `MDCHECK-END|MDCHECK no /run/config`)
			begin, _, err := c.Expect(ctx, 0, regexp.MustCompile(`MDCHECK-BEGIN`))
			if err != nil {
				t.Fatalf("the check service found no /run/config\nlast console lines:\n%s", c.Tail(120))
			}
			t.Logf("/run/config in the guest:\n%s", strings.Join(c.Lines(begin, end+1), "\n"))
			for _, w := range tc.want {
				if _, _, err := c.Expect(ctx, 0, regexp.MustCompile(w)); err != nil {
					t.Errorf("want a console line matching %q: %v", w, err)
				}
			}
			if i, _, err := c.Expect(ctx, 0, regexp.MustCompile(`metadata: provider \S+: probe \S+, total \S+`)); err == nil {
				t.Logf("agent: %s", strings.Join(c.Lines(i, i+1), ""))
			}
			if t.Failed() {
				t.Logf("console:\n%s", c.Tail(120))
			}
			waitExit(ctx, t, c)
		})
	}
}
