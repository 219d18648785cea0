package qemutest

import (
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// TestCRIContainerd boots a system whose init layer has
// pkgs/cri-containerd instead of pkgs/containerd: svcd starts containerd
// with its CRI service, which answers a kubelet's first calls (version,
// status) on the usual socket with the node settings (no systemd cgroups,
// the CNI directories), and the system powers off cleanly.
func TestCRIContainerd(t *testing.T) {
	ctx, c := bootSpecs(t, 6*time.Minute, run.QEMU{Mem: 512}, "qemu-test/testdata/cri-containerd.yml")
	i, at := mustExpect(ctx, t, c, 0, `CRICHECK-(OK|FAIL)`)
	line := c.Lines(i, i+1)[0]
	t.Logf("at %.1fs: %s", at.Seconds(), line)
	for _, want := range []string{"CRICHECK-OK", "runtime=containerd", "api=v1", "RuntimeReady=true", "SystemdCgroup=false", "cni=[/opt/cni/bin],/etc/cni/net.d"} {
		if !strings.Contains(line, want) {
			t.Errorf("the CRI check said %q, want %q in it\nlast console lines:\n%s", line, want, c.Tail(80))
		}
	}
	waitExit(ctx, t, c)
}
