package main

import (
	"bufio"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/keel-os/keel/internal/blockdev"
)

// system is the real machine.
type system struct{ sysRoot, devRoot, mountinfo string }

func newSystem() system {
	return system{sysRoot: "/sys", devRoot: "/dev", mountinfo: "/proc/self/mountinfo"}
}

func (s system) Devices() ([]blockdev.Device, error) { return blockdev.List(s.sysRoot, s.devRoot) }

func (system) ReadExt(path string) (blockdev.Ext, error) {
	f, err := os.Open(path)
	if err != nil {
		return blockdev.Ext{}, err
	}
	defer f.Close()
	return blockdev.ReadExt(f)
}

func (s system) Mounts() (map[string]string, error) {
	f, err := os.Open(s.mountinfo)
	if err != nil {
		return nil, fmt.Errorf("reading the mount table: %w", err)
	}
	defer f.Close()
	return parseMountinfo(bufio.NewScanner(f))
}

// parseMountinfo maps mount sources to mount points. A mountinfo line is
// "id parent major:minor root mountpoint options... - fstype source superopts".
func parseMountinfo(sc *bufio.Scanner) (map[string]string, error) {
	m := map[string]string{}
	for sc.Scan() {
		before, after, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(before), strings.Fields(after)
		if !ok || len(f) < 5 || len(g) < 2 {
			continue
		}
		if _, dup := m[g[1]]; !dup {
			m[g[1]] = unescapeOctal(f[4])
		}
	}
	return m, sc.Err()
}

// unescapeOctal undoes the kernel's \040-style escaping of spaces and
// other special characters in mountinfo paths.
func unescapeOctal(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range []byte(s[i+1 : i+4]) {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + c - '0'
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func (system) Mount(device, mountpoint string) error {
	if err := os.MkdirAll(mountpoint, 0o755); err != nil {
		return fmt.Errorf("creating the mount point: %w", err)
	}
	// The ext4 driver mounts ext2 and ext3 as well.
	return unix.Mount(device, mountpoint, "ext4", 0, "")
}

func (system) Logf(format string, args ...any) { log.Printf(format, args...) }
func (system) Sleep(d time.Duration)           { time.Sleep(d) }
