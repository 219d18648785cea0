package run

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"

	"github.com/keel-os/keel/packer/segment"
)

// segmentSockets makes sure a switch serves each segment q's NICs name,
// starting the ones missing, and returns their sockets by name.
func (q *QEMU) segmentSockets() (map[string]string, error) {
	socks := map[string]string{}
	for _, n := range q.Networks {
		if n.Kind != "segment" || socks[n.Target] != "" {
			continue
		}
		dir := q.SegmentDir
		if dir == "" {
			dir = segment.Dir()
		}
		name := n.Target
		start := func() error {
			if q.StartSwitch != nil {
				return q.StartSwitch(dir, name)
			}
			return segment.StartInProcess(dir, name, func(format string, args ...any) {
				log.Printf("segment %s: "+format, append([]any{name}, args...)...)
			})
		}
		sock, err := segment.Ensure(context.Background(), dir, name, start)
		if err != nil {
			return nil, fmt.Errorf("--networking segment,%s: %w", name, err)
		}
		socks[name] = sock
	}
	return socks, nil
}

// segmentSeed makes the MACs of q's segment NICs. VMs of one build share
// a segment, so the build alone cannot tell them apart: a state directory
// does (and keeps the address across boots); without one, each QEMU
// draws its own.
func (q *QEMU) segmentSeed() string {
	if q.StateDir != "" {
		return q.Prefix + q.Image + q.StateDir
	}
	if q.nonce == "" {
		b := make([]byte, 8)
		rand.Read(b)
		q.nonce = hex.EncodeToString(b)
	}
	return q.nonce
}
