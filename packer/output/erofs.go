package output

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The tools an erofs image takes: Debian 12's erofs-utils (1.5) builds an
// image from a folder only (reading a tar came in 1.7), so the entries are
// unpacked under fakeroot, which keeps their owners and device nodes for
// mkfs.erofs without root.
const (
	ErofsTool    = "mkfs.erofs"
	FakerootTool = "fakeroot"
)

// Erofs collects tar-described entries and turns them into an erofs image
// (lz4hc, the best compressor Debian 12's erofs-utils and kernel share).
// It implements rootfs.Writer and keeps hard links; a later entry replaces
// an earlier one of the same name, as tar unpacks them.
type Erofs struct {
	dir   string
	spool *os.File
	tw    *Tar
}

// NewErofs starts an erofs image with its scratch files in dir, which
// must be empty and is left for the caller to remove.
func NewErofs(dir string) (*Erofs, error) {
	f, err := os.Create(filepath.Join(dir, "root.tar"))
	if err != nil {
		return nil, fmt.Errorf("creating erofs spool: %w", err)
	}
	return &Erofs{dir: dir, spool: f, tw: NewTar(f)}, nil
}

// HardLinks reports that erofs stores hard links.
func (e *Erofs) HardLinks() bool { return true }

// WriteEntry adds one entry.
func (e *Erofs) WriteEntry(h *tar.Header, body io.Reader) error { return e.tw.WriteEntry(h, body) }

// Close releases the spool.
func (e *Erofs) Close() error { return e.spool.Close() }

// Write writes the image to dst. Every time is zero, extended attributes
// are left out and the file system UUID comes from the entries, so the
// same entries give the same bytes.
func (e *Erofs) Write(ctx context.Context, dst string) error {
	for _, tool := range []struct{ name, pkg string }{{ErofsTool, "erofs-utils"}, {FakerootTool, "fakeroot"}} {
		if _, err := exec.LookPath(tool.name); err != nil {
			return fmt.Errorf("an erofs root needs %s: install Debian's %s (or run scripts/ensure-deps.sh)", tool.name, tool.pkg)
		}
	}
	if err := e.tw.Close(); err != nil {
		return err
	}
	if _, err := e.spool.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(h, e.spool); err != nil {
		return fmt.Errorf("reading erofs spool: %w", err)
	}
	sum := h.Sum(nil)
	sum[6] = sum[6]&0x0f | 0x50 // a name-based (version 5) UUID
	sum[8] = sum[8]&0x3f | 0x80
	uuid := fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
	root := filepath.Join(e.dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		return err
	}
	// One fakeroot session: tar records owners and device nodes in it,
	// mkfs.erofs reads them back.
	const script = `tar -x -f "$1" -C "$2" --numeric-owner --same-owner --same-permissions && exec mkfs.erofs --quiet -zlz4hc -x-1 -T0 -U "$3" "$4" "$2"`
	cmd := exec.CommandContext(ctx, FakerootTool, "--", "sh", "-c", script, "sh", e.spool.Name(), root, uuid, dst)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s under %s failed: %w: %s", ErofsTool, FakerootTool, err, strings.TrimSpace(out.String()))
	}
	return nil
}
