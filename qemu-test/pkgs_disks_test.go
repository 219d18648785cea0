package qemutest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/diskfs/go-diskfs/partition/mbr"
)

// grownDisk makes the extend package's test disk: an MBR with one Linux
// partition of 31 MiB at 1 MiB holding ext4 (host's mke2fs), on a disk
// then grown to 64 MiB, as a cloud disk resized after it was written.
func grownDisk(t *testing.T, dir string) string {
	t.Helper()
	part := filepath.Join(dir, "part.img")
	if out, err := exec.Command("mke2fs", "-q", "-F", "-t", "ext4", part, "31M").CombinedOutput(); err != nil {
		t.Fatalf("mke2fs (scripts/ensure-deps.sh installs e2fsprogs): %v: %s", err, out)
	}
	fs, err := os.ReadFile(part)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ext.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tbl := &mbr.Table{LogicalSectorSize: 512, PhysicalSectorSize: 512,
		Partitions: []*mbr.Partition{{Type: mbr.Linux, Start: 2048, Size: 31 * 2048}}}
	if err := f.Truncate(32 << 20); err != nil {
		t.Fatal(err)
	}
	if err := tbl.Write(f, 32<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(fs, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkGrownDisk reads the disk after the boot: the partition table and
// the ext4 superblock both span the grown disk.
func checkGrownDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tbl, err := mbr.Read(f, 512, 512)
	if err != nil {
		t.Fatalf("extend: reading the grown disk's table: %v", err)
	}
	if p := tbl.Partitions[0]; p.Start != 2048 || p.Size != 63*2048 {
		t.Errorf("extend: partition 1 is at %d, %d sectors; want 2048, %d", p.Start, p.Size, 63*2048)
	}
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, 1<<20+1024); err != nil {
		t.Fatal(err)
	}
	blocks := uint64(binary.LittleEndian.Uint32(sb[4:]))
	blockSize := uint64(1024) << binary.LittleEndian.Uint32(sb[0x18:])
	if got := blocks * blockSize; got < 62<<20 || got > 63<<20 {
		t.Errorf("extend: the ext4 filesystem has %d blocks of %d (%d bytes), want it to fill the 63 MiB partition", blocks, blockSize, got)
	}
}

// checkCryptDisk reads the dm-crypt disk after the boot: a LUKS header,
// and nowhere the plaintext the guest wrote through the mapping.
func checkCryptDisk(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("LUKS\xba\xbe")) {
		t.Errorf("dm-crypt: the disk starts %q, want a LUKS header", b[:8])
	}
	if bytes.Contains(b, []byte("secret things")) {
		t.Error("dm-crypt: the plaintext written through the mapping is on the disk in the clear")
	}
}

// guestInfo is what qemu-ga's guest-info answers, in part.
type guestInfo struct {
	Version  string `json:"version"`
	Commands []struct {
		Name    string `json:"name"`
		Enabled bool   `json:"enabled"`
	} `json:"supported_commands"`
}

// guestAgentTalk connects to the guest agent's host socket, synchronises
// (guest-sync with a fresh id, as QEMU's documentation asks, since the
// channel may hold stale bytes), then checks guest-ping and asks
// guest-info.
func guestAgentTalk(ctx context.Context, socket string) (guestInfo, error) {
	conn, err := net.DialTimeout("unix", socket, 10*time.Second)
	if err != nil {
		return guestInfo{}, fmt.Errorf("connecting to %s: %w", socket, err)
	}
	defer conn.Close()
	r := bufio.NewReader(conn)
	send := func(cmd string, args any, wait time.Duration) error {
		req := map[string]any{"execute": cmd}
		if args != nil {
			req["arguments"] = args
		}
		b, _ := json.Marshal(req)
		conn.SetDeadline(time.Now().Add(wait))
		_, err := conn.Write(append(b, '\n'))
		return err
	}
	// next reads the next answer; stale or partial lines are skipped.
	next := func(cmd string) (json.RawMessage, error) {
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return nil, fmt.Errorf("%s: %w", cmd, err)
			}
			var resp struct {
				Return json.RawMessage `json:"return"`
				Error  *struct {
					Desc string `json:"desc"`
				} `json:"error"`
			}
			if json.Unmarshal(bytes.TrimLeft(line, "\xff"), &resp) != nil {
				continue
			}
			if resp.Error != nil {
				return nil, fmt.Errorf("%s: %s", cmd, resp.Error.Desc)
			}
			return resp.Return, nil
		}
	}
	call := func(cmd string, wait time.Duration) (json.RawMessage, error) {
		if err := send(cmd, nil, wait); err != nil {
			return nil, err
		}
		return next(cmd)
	}
	// Until the agent runs, a guest-sync goes unanswered (or is answered
	// late): each try waits 5 s for its own id, skipping older answers.
	for id := 1000; ; id++ {
		if ctx.Err() != nil {
			return guestInfo{}, fmt.Errorf("no answer to guest-sync: %w", ctx.Err())
		}
		if err := send("guest-sync", map[string]int{"id": id}, 5*time.Second); err != nil {
			return guestInfo{}, err
		}
		synced := false
		for {
			ret, err := next("guest-sync")
			if err != nil {
				break
			}
			if string(ret) == fmt.Sprint(id) {
				synced = true
				break
			}
		}
		if synced {
			break
		}
	}
	ret, err := call("guest-ping", 10*time.Second)
	if err != nil {
		return guestInfo{}, err
	}
	if string(ret) != "{}" {
		return guestInfo{}, fmt.Errorf("guest-ping returned %s, want {}", ret)
	}
	ret, err = call("guest-info", 10*time.Second)
	if err != nil {
		return guestInfo{}, err
	}
	var info guestInfo
	if err := json.Unmarshal(ret, &info); err != nil {
		return guestInfo{}, fmt.Errorf("guest-info: %w", err)
	}
	if info.Version == "" || len(info.Commands) == 0 {
		return info, fmt.Errorf("guest-info returned %s, want a version and commands", ret)
	}
	return info, nil
}
