package disk

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// DynamicVHD is Convert's name for a dynamically expanding VHD (qemu-img's
// vpc with subformat=dynamic).
const DynamicVHD = "vpc-dynamic"

// Convert writes the raw disk image raw to out in format (qemu-img's
// names: qcow2, vpc for a fixed VHD, vmdk; or DynamicVHD) and clears what
// qemu-img takes from the clock or random numbers, so the result depends
// on the input only.
func Convert(ctx context.Context, raw, out, format string) error {
	args := []string{"convert", "-q", "-f", "raw", "-O", format}
	switch format {
	case "vpc":
		// A fixed VHD is what clouds that take VHDs want, and its only
		// metadata is one footer.
		args = append(args, "-o", "subformat=fixed,force_size=on")
	case DynamicVHD:
		// A copy of the footer, the dynamic header and the block
		// allocation table, then only the 2 MiB blocks that hold data.
		// force_size keeps the size exact instead of rounding it to a
		// cylinder/head/sector geometry.
		args = []string{"convert", "-q", "-f", "raw", "-O", "vpc", "-o", "subformat=dynamic,force_size=on"}
	case "qcow2", "vmdk":
	default:
		return fmt.Errorf("no conversion to %q: want qcow2, vpc, %s or vmdk", format, DynamicVHD)
	}
	if _, err := exec.LookPath("qemu-img"); err != nil {
		return fmt.Errorf("converting to %s needs qemu-img: install Debian's qemu-utils package", format)
	}
	cmd := exec.CommandContext(ctx, "qemu-img", append(args, raw, out)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("qemu-img convert to %s: %w: %s", format, err, strings.TrimSpace(string(b)))
	}
	id, err := fileID(raw)
	if err != nil {
		return err
	}
	switch format {
	case "vpc":
		return fixVHDFooter(out, id, false)
	case DynamicVHD:
		return fixVHDFooter(out, id, true)
	case "vmdk":
		return fixVMDKCID(out, id)
	}
	return nil
}

func fileID(p string) ([32]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return [32]byte{}, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return [32]byte{}, fmt.Errorf("reading %s: %w", p, err)
	}
	var id [32]byte
	copy(id[:], h.Sum(nil))
	return id, nil
}

// fixVHDFooter sets the footer's time stamp to zero and its unique id
// from the content, and recomputes its checksum; a dynamic VHD's copy of
// the footer at its start gets the same bytes.
func fixVHDFooter(p string, id [32]byte, dynamic bool) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	foot := make([]byte, 512)
	at := fi.Size() - 512
	if _, err := f.ReadAt(foot, at); err != nil {
		return fmt.Errorf("reading VHD footer: %w", err)
	}
	if string(foot[:8]) != "conectix" {
		return fmt.Errorf("%s: no VHD footer where qemu-img should have written it", p)
	}
	binary.BigEndian.PutUint32(foot[24:], 0)
	copy(foot[68:84], id[:16])
	binary.BigEndian.PutUint32(foot[64:], 0)
	var sum uint32
	for _, b := range foot {
		sum += uint32(b)
	}
	binary.BigEndian.PutUint32(foot[64:], ^sum)
	if _, err := f.WriteAt(foot, at); err != nil {
		return err
	}
	if dynamic {
		head := make([]byte, 512)
		if _, err := f.ReadAt(head, 0); err != nil {
			return fmt.Errorf("reading VHD footer copy: %w", err)
		}
		if string(head[:8]) != "conectix" {
			return fmt.Errorf("%s: no copy of the VHD footer at the start of a dynamic VHD", p)
		}
		if _, err := f.WriteAt(foot, 0); err != nil {
			return err
		}
	}
	return f.Close()
}

// fixVMDKCID replaces the random content id in the embedded descriptor
// with one from the contents. qemu-img prints it without leading zeros, so
// the descriptor text is rewritten whole (it sits in a zero-padded area).
func fixVMDKCID(p string, id [32]byte) error {
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, 64<<10)
	n, err := f.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return err
	}
	head = head[:n]
	start := bytes.Index(head, []byte("# Disk DescriptorFile"))
	if start < 0 {
		return fmt.Errorf("%s: no descriptor in the VMDK", p)
	}
	end := bytes.IndexByte(head[start:], 0)
	if end < 0 {
		return fmt.Errorf("%s: VMDK descriptor not terminated", p)
	}
	end += start
	text := string(head[start:end])
	i := strings.Index(text, "\nCID=")
	if i < 0 {
		return fmt.Errorf("%s: no CID in the VMDK descriptor", p)
	}
	j := strings.IndexByte(text[i+1:], '\n')
	if j < 0 {
		return fmt.Errorf("%s: no end to the CID line in the VMDK descriptor", p)
	}
	cid := fmt.Sprintf("\nCID=%08x", binary.BigEndian.Uint32(id[:4]))
	text = text[:i] + cid + text[i+1+j:]
	// The padding after the text must hold what grew.
	if start+len(text) >= n || bytes.ContainsFunc(head[end:start+len(text)+1], func(r rune) bool { return r != 0 }) {
		return fmt.Errorf("%s: no room to rewrite the VMDK descriptor", p)
	}
	buf := make([]byte, max(len(text), end-start))
	copy(buf, text)
	if _, err := f.WriteAt(buf, int64(start)); err != nil {
		return err
	}
	return f.Close()
}
