package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func TestArchives(t *testing.T) {
	a, b, empty := t.TempDir(), t.TempDir(), t.TempDir()
	for _, f := range []string{filepath.Join(a, "z.tar"), filepath.Join(a, "a.tar"), filepath.Join(a, "notes.txt"), filepath.Join(b, "m.tar")} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		dirs    []string
		want    []string
		wantErr string
	}{
		{[]string{a, b}, []string{filepath.Join(a, "a.tar"), filepath.Join(a, "z.tar"), filepath.Join(b, "m.tar")}, ""},
		{[]string{empty}, nil, "no image archive"},
		{[]string{filepath.Join(empty, "missing")}, nil, "no such file"},
	}
	for _, tc := range tests {
		got, err := archives(tc.dirs)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("archives(%v): got %v, %v; want an error containing %q", tc.dirs, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("archives(%v): got %v, %v; want %v", tc.dirs, got, err, tc.want)
		}
	}
}

// TestImportIntoContainerd runs a real containerd (built from the version
// in go.mod, without CRI) and imports two archives written as keel pkg
// build's images: writes them: both images must be there by name, unpacked
// for the snapshotter, and a second run must succeed too.
func TestImportIntoContainerd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs containerd")
	}
	if testing.Short() {
		t.Skip("short mode: builds and runs containerd")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "containerd")
	build := exec.Command("go", "build", "-trimpath", "-tags", "no_cri,no_btrfs,no_devmapper,no_zfs,no_tracing,no_systemd", "-o", bin, "github.com/containerd/containerd/v2/cmd/containerd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building containerd: %v\n%s", err, out)
	}
	sock := filepath.Join(tmp, "c.sock")
	config := "version = 3\nroot = \"" + filepath.Join(tmp, "root") + "\"\nstate = \"" + filepath.Join(tmp, "state") + "\"\n[grpc]\n  address = \"" + sock + "\"\n"
	if err := os.WriteFile(filepath.Join(tmp, "config.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	daemon := exec.Command(bin, "--config", filepath.Join(tmp, "config.toml"))
	daemon.Stdout, daemon.Stderr = &log, &log
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		daemon.Process.Kill()
		daemon.Wait()
		if t.Failed() {
			t.Logf("containerd's log:\n%s", log.String())
		}
	}()

	dir := filepath.Join(tmp, "images")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	names := []string{"registry.k8s.io/pause:3.10.2", "registry.k8s.io/kube-proxy:v1.37.2"}
	for i, n := range names {
		img, err := random.Image(512, 2)
		if err != nil {
			t.Fatal(err)
		}
		// As keel's images: for this machine's platform, which the
		// import keeps.
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf.OS, cf.Architecture = "linux", runtime.GOARCH
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		tag, err := name.NewTag(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := tarball.WriteToFile(filepath.Join(dir, string(rune('a'+i))+".tar"), tag, img); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for round := range 2 {
		// random layers are not file systems: the native snapshotter
		// applies any tar, which is what the check needs.
		if err := run(ctx, sock, "k8s.io", "native", time.Minute, []string{dir}); err != nil {
			t.Fatalf("run %d: %v", round+1, err)
		}
	}
	client, err := containerd.New(sock, containerd.WithDefaultNamespace("k8s.io"))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for _, n := range names {
		img, err := client.GetImage(ctx, n)
		if err != nil {
			t.Errorf("image %s: %v", n, err)
			continue
		}
		if ok, err := img.IsUnpacked(ctx, "native"); err != nil || !ok {
			t.Errorf("image %s unpacked for native: got %v, %v; want true", n, ok, err)
		}
	}
}
