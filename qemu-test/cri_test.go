package qemutest

import (
	"context"
	"regexp"
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
	require(t)
	prefix := buildImage(t, "qemu-test/testdata/cri-containerd.yml")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	c, err := Boot(ctx, &run.QEMU{Prefix: prefix, Mem: 512})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Kill()
	i, at, err := c.Expect(ctx, 0, regexp.MustCompile(`CRICHECK-(OK|FAIL)`))
	if err != nil {
		t.Fatalf("no CRI check result: %v\nlast console lines:\n%s", err, c.Tail(80))
	}
	line := c.Lines(i, i+1)[0]
	t.Logf("at %.1fs: %s", at.Seconds(), line)
	for _, want := range []string{"CRICHECK-OK", "runtime=containerd", "api=v1", "RuntimeReady=true", "SystemdCgroup=false", "cni=[/opt/cni/bin],/etc/cni/net.d"} {
		if !strings.Contains(line, want) {
			t.Errorf("the CRI check said %q, want %q in it\nlast console lines:\n%s", line, want, c.Tail(80))
		}
	}
	if err := c.Wait(ctx); err != nil {
		t.Errorf("qemu did not exit cleanly after power-off: %v\nlast console lines:\n%s", err, c.Tail(40))
	}
}
