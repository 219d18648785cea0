package metadata

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
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

// TestRegistryEveryNameConstructs: every name and alias in the registry
// makes a provider that calls itself by the registration's name and, given
// no URL, uses the registration's default. The automatic ones must construct
// with no argument, as the agent makes them.
func TestRegistryEveryNameConstructs(t *testing.T) {
	for _, r := range registry {
		arg := ""
		if !r.Auto {
			arg = "/x" // file's path
		}
		for _, n := range append([]string{r.Name}, r.Aliases...) {
			t.Run(n, func(t *testing.T) {
				p, err := New(n, arg, DefaultEnv(), DefaultLimits, nil)
				if err != nil {
					t.Fatalf("New(%q, %q): got error %v, want none", n, arg, err)
				}
				if p.Name() != r.Name {
					t.Errorf("Name: got %q, want %q", p.Name(), r.Name)
				}
				if got := base(p); got != r.DefaultURL {
					t.Errorf("base: got %q, want the default %q", got, r.DefaultURL)
				}
			})
		}
	}
}

// providerNames is every name and alias the registry knows.
func providerNames() map[string]bool {
	names := map[string]bool{}
	for _, r := range registry {
		names[r.Name] = true
		for _, a := range r.Aliases {
			names[a] = true
		}
	}
	return names
}

// TestRegistryIsTheOnlyList: no list literal or switch in the package's
// code names two providers, so a new provider is one registry entry and
// cannot be forgotten in a second list (as Names and New's switch once
// were).
func TestRegistryIsTheOnlyList(t *testing.T) {
	names := providerNames()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			var elts []ast.Expr
			switch n := n.(type) {
			case *ast.CompositeLit:
				elts = n.Elts
			case *ast.SwitchStmt:
				for _, c := range n.Body.List {
					elts = append(elts, c.(*ast.CaseClause).List...)
				}
			default:
				return true
			}
			var found []string
			for _, e := range elts {
				if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if s, err := strconv.Unquote(lit.Value); err == nil && names[s] {
						found = append(found, s)
					}
				}
			}
			if len(found) > 1 {
				t.Errorf("%s: got a second list of providers %q, want the registry the only one", fset.Position(n.Pos()), found)
			}
			return true
		})
	}
}

// TestDocsNameEveryProvider: docs/metadata.md, which users read to spell
// keel.metadata=NAME, names every provider and alias in the registry.
func TestDocsNameEveryProvider(t *testing.T) {
	doc, err := os.ReadFile("../docs/metadata.md")
	if err != nil {
		t.Fatal(err)
	}
	for n := range providerNames() {
		if !strings.Contains(string(doc), "`"+n+"`") && !strings.Contains(string(doc), "`"+n+"=") {
			t.Errorf("docs/metadata.md: got no `%s`, want every provider and alias named", n)
		}
	}
}
