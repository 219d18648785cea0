package metadata

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestNames pins the automatic preference order: AWS must stay last among
// the 169.254.169.254 clouds, and file is never guessed.
func TestNames(t *testing.T) {
	want := []string{"fw_cfg", "nocloud", "gcp", "azure", "oracle", "digitalocean", "upcloud", "hetzner",
		"openstack", "vultr", "scaleway", "equinixmetal", "aws"}
	if !reflect.DeepEqual(Names, want) {
		t.Errorf("Names: got %q, want %q", Names, want)
	}
}

// base returns a network provider's base URL, "" for a local one.
func base(p Provider) string {
	v := reflect.ValueOf(p).Elem().FieldByName("Base")
	if !v.IsValid() {
		return ""
	}
	return v.String()
}

func TestNew(t *testing.T) {
	tests := []struct {
		name, arg string
		wantType  string
		wantBase  string
		wantErr   string
	}{
		{"fw_cfg", "", "*metadata.FwCfg", "", ""},
		{"nocloud", "", "*metadata.NoCloud", "", ""},
		{"cdrom", "", "*metadata.NoCloud", "", ""},
		{"file", "/x", "*metadata.File", "", ""},
		{"file", "", "", "", "needs a path"},
		{"aws", "", "*metadata.AWS", linkLocal, ""},
		{"aws", "http://10.0.2.2:8080/", "*metadata.AWS", "http://10.0.2.2:8080", ""},
		{"gcp", "", "*metadata.GCP", linkLocal, ""},
		{"azure", "", "*metadata.Azure", linkLocal, ""},
		{"oracle", "", "*metadata.Oracle", linkLocal, ""},
		{"digitalocean", "", "*metadata.DigitalOcean", linkLocal, ""},
		{"upcloud", "", "*metadata.UpCloud", linkLocal, ""},
		{"hetzner", "", "*metadata.Hetzner", linkLocal, ""},
		{"openstack", "", "*metadata.OpenStack", linkLocal, ""},
		{"vultr", "", "*metadata.Vultr", linkLocal, ""},
		{"scaleway", "", "*metadata.Scaleway", "http://169.254.42.42", ""},
		{"equinixmetal", "", "*metadata.EquinixMetal", "https://metadata.platformequinix.com", ""},
		{"packet", "", "*metadata.EquinixMetal", "https://metadata.platformequinix.com", ""},
		{"packet", "http://10.0.2.2//", "*metadata.EquinixMetal", "http://10.0.2.2", ""},
		{"nosuch", "", "", "", `unknown metadata provider "nosuch" (known: file=PATH, fw_cfg,`},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.arg, func(t *testing.T) {
			p, err := New(tt.name, tt.arg, DefaultEnv(), DefaultLimits, nil)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if got := fmt.Sprintf("%T", p); got != tt.wantType {
				t.Errorf("type: got %s, want %s", got, tt.wantType)
			}
			if got := base(p); got != tt.wantBase {
				t.Errorf("base: got %q, want %q", got, tt.wantBase)
			}
		})
	}
}

// TestRegistryNamesUnique: a name or alias used twice would make the
// second entry unreachable.
func TestRegistryNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range registry {
		for _, n := range append([]string{r.Name}, r.Aliases...) {
			if seen[n] {
				t.Errorf("name %q: got it twice in the registry, want once", n)
			}
			seen[n] = true
		}
	}
}
