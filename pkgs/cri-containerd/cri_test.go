package cricontainerd

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"gopkg.in/yaml.v3"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// buildContainerd builds containerd as build.yml says (its package and
// tags) into dir.
func buildContainerd(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile("build.yml")
	if err != nil {
		t.Fatal(err)
	}
	var pkg struct {
		Go []struct {
			Package string   `yaml:"package"`
			Output  string   `yaml:"output"`
			Tags    []string `yaml:"tags"`
		} `yaml:"go"`
	}
	if err := yaml.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	for _, g := range pkg.Go {
		if g.Output != "/usr/bin/containerd" {
			continue
		}
		bin := filepath.Join(dir, "containerd")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-tags", strings.Join(g.Tags, ","), "-o", bin, g.Package)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", g.Package, err, out)
		}
		return bin
	}
	t.Fatal("build.yml builds no /usr/bin/containerd")
	return ""
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCRIServes runs containerd as the package builds it with
// config.toml (paths moved to a temporary directory) and asks it over
// CRI, as the kubelet would, for its version and status: the CRI service
// answers, and the configuration it runs with is the one the file says,
// with no key containerd did not know.
func TestCRIServes(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: builds and runs containerd")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs containerd")
	}
	// A short directory: containerd's socket path must fit a sockaddr_un.
	dir, err := os.MkdirTemp("", "cri")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := buildContainerd(t, dir)
	config := movedConfig(t, dir)

	var log syncBuffer
	cmd := exec.Command(bin, "--config", config)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("containerd's log:\n%s", log.String())
		}
	})

	sock := filepath.Join(dir, "state", "containerd.sock")
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rt := runtime.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var v *runtime.VersionResponse
	for {
		v, err = rt.Version(ctx, &runtime.VersionRequest{})
		if err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("containerd exited: %s", log.String())
		case <-ctx.Done():
			t.Fatalf("CRI did not answer: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if v.RuntimeName != "containerd" || v.RuntimeApiVersion != "v1" {
		t.Errorf("CRI version: runtime %q, API %q; want containerd, v1", v.RuntimeName, v.RuntimeApiVersion)
	}
	t.Logf("CRI answers: %s %s, API %s", v.RuntimeName, v.RuntimeVersion, v.RuntimeApiVersion)

	st, err := rt.Status(ctx, &runtime.StatusRequest{Verbose: true})
	if err != nil {
		t.Fatalf("CRI status: %v", err)
	}
	for _, c := range st.GetStatus().GetConditions() {
		// No CNI configuration is installed: the network is not ready,
		// the runtime is.
		if c.Type == runtime.RuntimeReady && !c.Status {
			t.Errorf("runtime not ready: %s %s", c.Reason, c.Message)
		}
	}
	var got struct {
		Containerd struct {
			DefaultRuntimeName string `json:"defaultRuntimeName"`
			Runtimes           map[string]struct {
				Type    string         `json:"runtimeType"`
				Options map[string]any `json:"options"`
			} `json:"runtimes"`
		} `json:"containerd"`
		CNI struct {
			BinDirs []string `json:"binDirs"`
			ConfDir string   `json:"confDir"`
		} `json:"cni"`
	}
	if err := json.Unmarshal([]byte(st.Info["config"]), &got); err != nil {
		t.Fatalf("CRI status config %q: %v", st.Info["config"], err)
	}
	runc := got.Containerd.Runtimes[got.Containerd.DefaultRuntimeName]
	checks := []struct {
		what      string
		got, want any
	}{
		{"default runtime", got.Containerd.DefaultRuntimeName, "runc"},
		{"runtime type", runc.Type, "io.containerd.runc.v2"},
		{"SystemdCgroup", runc.Options["SystemdCgroup"], false},
		{"CNI plugin directories", strings.Join(got.CNI.BinDirs, ","), dir + "/cni-bin"},
		{"CNI configuration directory", got.CNI.ConfDir, dir + "/net.d"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("CRI runs with %s %v, want %v", c.what, c.got, c.want)
		}
	}
	for _, bad := range []string{"Ignoring unknown key", "failed to load plugin", "Configuration migrated"} {
		if strings.Contains(log.String(), bad) {
			t.Errorf("containerd's log says %q:\n%s", bad, log.String())
		}
	}
}
