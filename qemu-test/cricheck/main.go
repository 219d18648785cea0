// Command cricheck is a test-only service for a node image (containerd
// from pkgs/cri-containerd): it asks containerd's CRI service, over the
// socket the kubelet uses, for its version and status as a kubelet would,
// prints CRICHECK-OK or CRICHECK-FAIL with what it got, and powers the
// machine off through svcctl. Image names as arguments are looked up
// through CRI's image service too, as the kubelet does before it would
// pull: each must be there (CRICHECK-IMAGE lines say with what size).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const socket = "/run/containerd/containerd.sock"

// check asks CRI for its version and status; it is the line to print.
func check(ctx context.Context) (string, error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	rt := runtime.NewRuntimeServiceClient(conn)
	var v *runtime.VersionResponse
	for {
		if v, err = rt.Version(ctx, &runtime.VersionRequest{}); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("CRI version: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
	st, err := rt.Status(ctx, &runtime.StatusRequest{Verbose: true})
	if err != nil {
		return "", fmt.Errorf("CRI status: %w", err)
	}
	ready := map[string]bool{}
	for _, c := range st.GetStatus().GetConditions() {
		ready[c.Type] = c.Status
	}
	var cfg struct {
		Containerd struct {
			Runtimes map[string]struct {
				Options map[string]any `json:"options"`
			} `json:"runtimes"`
		} `json:"containerd"`
		CNI struct {
			BinDirs []string `json:"binDirs"`
			ConfDir string   `json:"confDir"`
		} `json:"cni"`
	}
	if err := json.Unmarshal([]byte(st.Info["config"]), &cfg); err != nil {
		return "", fmt.Errorf("CRI status config: %w", err)
	}
	return fmt.Sprintf("runtime=%s version=%s api=%s RuntimeReady=%v NetworkReady=%v SystemdCgroup=%v cni=%v,%s",
		v.RuntimeName, v.RuntimeVersion, v.RuntimeApiVersion, ready[runtime.RuntimeReady], ready[runtime.NetworkReady],
		cfg.Containerd.Runtimes["runc"].Options["SystemdCgroup"], cfg.CNI.BinDirs, cfg.CNI.ConfDir), nil
}

// images asks CRI for each image by name; the line lists what it found.
func images(ctx context.Context, names []string) error {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	is := runtime.NewImageServiceClient(conn)
	var missing []string
	for _, n := range names {
		st, err := is.ImageStatus(ctx, &runtime.ImageStatusRequest{Image: &runtime.ImageSpec{Image: n}})
		if err != nil {
			return fmt.Errorf("CRI image status of %s: %w", n, err)
		}
		if st.GetImage() == nil {
			missing = append(missing, n)
			continue
		}
		fmt.Printf("CRICHECK-IMAGE %s id=%.19s size=%d\n", n, st.GetImage().GetId(), st.GetImage().GetSize())
	}
	if len(missing) > 0 {
		return fmt.Errorf("images not in CRI: %v", missing)
	}
	return nil
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	line, err := check(ctx)
	if err == nil && len(os.Args) > 1 {
		err = images(ctx, os.Args[1:])
	}
	cancel()
	if err != nil {
		fmt.Println("CRICHECK-FAIL", err)
	} else {
		fmt.Println("CRICHECK-OK", line)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "/usr/bin/svcctl", "poweroff").CombinedOutput(); err != nil {
		fmt.Printf("CRICHECK-FAIL svcctl poweroff: %v: %s\n", err, out)
	}
}
