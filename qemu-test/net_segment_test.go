package qemutest

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/keel-os/keel/packer/run"
)

// TestSegment boots three VMs of one build at once on one segment
// (--networking segment,NAME; the switch served from this test process on
// a socket of a temporary directory). Each gets a static address on the
// segment and pings the other two; one of them also has a published port
// on its user-mode NIC, and the host fetches a page through it.
func TestSegment(t *testing.T) {
	require(t)
	prefix := buildImage(t, "examples/minimal.yml", "qemu-test/testdata/net-segment.yml")
	// A short directory: unix socket paths are limited to 107 bytes.
	dir, err := os.MkdirTemp("", "seg")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	segDir := filepath.Join(dir, "segments")
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	addrs := []string{"10.78.0.1", "10.78.0.2", "10.78.0.3"}
	consoles := make([]*Console, len(addrs))
	for i, addr := range addrs {
		var peers []string
		for _, p := range addrs {
			if p != addr {
				peers = append(peers, p)
			}
		}
		// One CPU each: three guests at once on a two-core host, beside
		// another test, starve each other with two (a peer still booting
		// after the others' three minutes of pings).
		q := &run.QEMU{Prefix: prefix, Mem: 256, CPUs: 1, SegmentDir: segDir,
			Networks:     []run.Network{{Kind: "user"}, {Kind: "segment", Target: "lab"}},
			ExtraCmdline: "segtest.addr=" + addr + " segtest.peers=" + strings.Join(peers, ",")}
		if i == 0 {
			q.Publish = []run.Publish{{Host: port, Guest: 8080, Proto: "tcp"}}
			q.ExtraCmdline += " segtest.serve=1"
		}
		c, err := Boot(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Kill)
		consoles[i] = c
	}
	if _, err := os.Stat(filepath.Join(segDir, "lab.sock")); err != nil {
		t.Errorf("the segment's socket: %v", err)
	}

	result := regexp.MustCompile(`SEGMENT-(OK|FAIL)`)
	for i, c := range consoles {
		j, at, err := c.Expect(ctx, 0, result)
		if err != nil {
			t.Fatalf("VM %s: no segment result: %v\nlast console lines:\n%s", addrs[i], err, c.Tail(60))
		}
		line := c.Lines(j, j+1)[0]
		if !strings.Contains(line, "SEGMENT-OK") {
			t.Errorf("VM %s: %s\nlast console lines:\n%s", addrs[i], line, c.Tail(60))
			for k, o := range consoles {
				if k != i {
					t.Logf("VM %s's last console lines:\n%s", addrs[k], o.Tail(30))
				}
			}
			continue
		}
		t.Logf("VM %s at %.1fs: %s", addrs[i], at.Seconds(), line)
	}
	if t.Failed() {
		return
	}

	status, body, err := fetch(ctx, fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatalf("fetching through the published port of VM %s: %v\nlast console lines:\n%s", addrs[0], err, consoles[0].Tail(40))
	}
	if want := "SEGMENT-OK " + addrs[0]; status != http.StatusOK || !strings.Contains(body, want) {
		t.Errorf("the published port answered HTTP %d %q, want 200 with %q", status, body, want)
	}
}
