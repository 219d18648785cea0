// Package cricontainerd tests the configuration of pkgs/cri-containerd:
// that containerd reads it as meant, and that containerd built as the
// package builds it serves CRI with it.
package cricontainerd

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	srvconfig "github.com/containerd/containerd/v2/cmd/containerd/server/config"
	"github.com/containerd/containerd/v2/version"
)

// criPlugins are the plugins that make up CRI: none may be disabled.
var criPlugins = []string{"io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime"}

// movedConfig is config.toml with every absolute path it names moved
// under dir, so containerd can run with it here; it fails the test when
// a path is left that the test does not know.
func movedConfig(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("config.toml")
	if err != nil {
		t.Fatal(err)
	}
	r := strings.NewReplacer(
		`"/var/lib/containerd"`, `"`+dir+`/root"`,
		`"/run/containerd`, `"`+dir+`/state`,
		`"/etc/containerd/conf.d/`, `"`+dir+`/conf.d/`,
		`"/etc/cni/net.d"`, `"`+dir+`/net.d"`,
		`"/opt/cni/bin"`, `"`+dir+`/cni-bin"`,
		`"/usr/bin/runc"`, `"`+dir+`/runc"`,
	)
	var keep []string
	for _, l := range strings.Split(r.Replace(string(b)), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			keep = append(keep, l)
		}
	}
	out := strings.Join(keep, "\n")
	for _, p := range []string{"/var/", "/run/", "/etc/", "/opt/", "/usr/"} {
		if strings.Contains(strings.ReplaceAll(out, dir, ""), `"`+p) {
			t.Fatalf("config.toml names a path under %s the test does not move:\n%s", p, out)
		}
	}
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// The CRI settings the test reads back, named as containerd's CRI
// configuration names them.
type runtimeConfig struct {
	Containerd struct {
		DefaultRuntimeName string `toml:"default_runtime_name"`
		Runtimes           map[string]struct {
			Type    string         `toml:"runtime_type"`
			Options map[string]any `toml:"options"`
		} `toml:"runtimes"`
	} `toml:"containerd"`
	CNI struct {
		BinDirs    []string `toml:"bin_dirs"`
		ConfDir    string   `toml:"conf_dir"`
		MaxConfNum int      `toml:"max_conf_num"`
	} `toml:"cni"`
}

type imagesConfig struct {
	Snapshotter  string            `toml:"snapshotter"`
	PinnedImages map[string]string `toml:"pinned_images"`
}

// TestConfig loads config.toml as containerd does (its own loader, with
// the imports) and checks the settings a Kubernetes node needs, with and
// without a drop-in that names another sandbox image.
func TestConfig(t *testing.T) {
	tests := []struct {
		name        string
		dropIn      string // conf.d/sandbox.toml; "" for none
		wantSandbox string
	}{
		{"as shipped", "", "registry.k8s.io/pause:3.10.2"},
		{"sandbox image from a drop-in", "[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = \"keel/pause:test\"\n", "keel/pause:test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := movedConfig(t, dir)
			if tt.dropIn != "" {
				if err := os.WriteFile(filepath.Join(dir, "conf.d", "sandbox.toml"), []byte(tt.dropIn), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ctx := context.Background()
			var cfg srvconfig.Config
			if err := srvconfig.LoadConfig(ctx, path, &cfg); err != nil {
				t.Fatalf("containerd cannot load config.toml: %v", err)
			}
			if cfg.Version != version.ConfigVersion {
				t.Errorf("config version %d, want containerd's current %d (an older one is migrated, with a warning, on every start)", cfg.Version, version.ConfigVersion)
			}
			for _, p := range criPlugins {
				if slices.Contains(cfg.DisabledPlugins, p) {
					t.Errorf("%s is disabled", p)
				}
				if _, ok := cfg.Plugins[p]; !ok {
					t.Errorf("no settings for %s", p)
				}
			}

			var rt runtimeConfig
			if _, err := cfg.Decode(ctx, "io.containerd.cri.v1.runtime", &rt); err != nil {
				t.Fatal(err)
			}
			runc, ok := rt.Containerd.Runtimes[rt.Containerd.DefaultRuntimeName]
			if !ok {
				t.Fatalf("default runtime %q has no settings (runtimes: %v)", rt.Containerd.DefaultRuntimeName, rt.Containerd.Runtimes)
			}
			var im imagesConfig
			if _, err := cfg.Decode(ctx, "io.containerd.cri.v1.images", &im); err != nil {
				t.Fatal(err)
			}
			checks := []struct {
				what      string
				got, want any
			}{
				{"runtime type", runc.Type, "io.containerd.runc.v2"},
				{"SystemdCgroup", runc.Options["SystemdCgroup"], false},
				{"runc binary", runc.Options["BinaryName"], dir + "/runc"},
				{"CNI plugin directories", strings.Join(rt.CNI.BinDirs, ","), dir + "/cni-bin"},
				{"CNI configuration directory", rt.CNI.ConfDir, dir + "/net.d"},
				{"snapshotter", im.Snapshotter, "overlayfs"},
				{"sandbox image", im.PinnedImages["sandbox"], tt.wantSandbox},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s: got %v, want %v", c.what, c.got, c.want)
				}
			}
		})
	}
}
