package qemutest

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// TestKubernetesImages boots a node that carries the images kubeadm
// v1.37.2 runs (pkgs/kubernetes-images) and checks that they reach
// containerd's CRI without a registry: the import service runs once
// containerd answers, and a service started after it finds every image by
// the name kubeadm uses. Building the image compiles Kubernetes, so it
// runs only with KEEL_KUBERNETES=1 (make test-kubernetes), never in make
// test.
func TestKubernetesImages(t *testing.T) {
	if os.Getenv("KEEL_KUBERNETES") != "1" {
		t.Skip("set KEEL_KUBERNETES=1 (make test-kubernetes): building the image compiles Kubernetes")
	}
	// The archives are in the initrd (about 160 MiB) and containerd
	// unpacks them again into /var/lib/containerd, which is RAM here.
	ctx, c := bootSpecs(t, 15*time.Minute, run.QEMU{Mem: 2048}, "qemu-test/testdata/kubernetes-images.yml")
	expectMatch(ctx, t, c, "containerd imported the images", `image-import: registry.k8s.io/pause:3.10.2`)
	i, at := mustExpect(ctx, t, c, 0, `CRICHECK-(OK|FAIL)`)
	line := c.Lines(i, i+1)[0]
	t.Logf("at %.1fs: %s", at.Seconds(), line)
	if got := len(reportLines(c, i, "CRICHECK-IMAGE")); got != 7 || !strings.Contains(line, "CRICHECK-OK") {
		t.Errorf("CRI found %d of the 7 images (%s), want all\nlast console lines:\n%s", got, line, c.Tail(80))
	}
	waitExit(ctx, t, c)
}
