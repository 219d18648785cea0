package run

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Publish forwards a host port to a guest port through QEMU's user-mode
// network, like `docker run -p`.
type Publish struct {
	Host, Guest int
	Proto       string // tcp or udp
}

// ParsePublish reads "host:guest[/tcp|/udp]" (or "port" for the same port
// on both sides).
func ParsePublish(s string) (Publish, error) {
	p := Publish{Proto: "tcp"}
	ports, proto, ok := strings.Cut(s, "/")
	if ok {
		if proto != "tcp" && proto != "udp" {
			return p, fmt.Errorf("--publish %q: protocol %q is not tcp or udp", s, proto)
		}
		p.Proto = proto
	}
	host, guest, ok := strings.Cut(ports, ":")
	if !ok {
		guest = host
	}
	var err error
	if p.Host, err = port(host); err != nil {
		return p, fmt.Errorf("--publish %q: host port: %w (want host:guest[/tcp|udp], e.g. 2222:22)", s, err)
	}
	if p.Guest, err = port(guest); err != nil {
		return p, fmt.Errorf("--publish %q: guest port: %w (want host:guest[/tcp|udp], e.g. 2222:22)", s, err)
	}
	return p, nil
}

func port(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port number 1-65535", s)
	}
	return n, nil
}

func (p Publish) hostfwd() string {
	return fmt.Sprintf("hostfwd=%s::%d-:%d", p.Proto, p.Host, p.Guest)
}

// Disk is a disk image attached to the guest: a virtio block device, or
// an NVMe or AHCI (SATA) disk as physical machines have.
type Disk struct {
	Path   string
	Size   string // for a disk that does not exist yet, e.g. "1G"; default 1G
	Format string // raw (default) or anything qemu-img knows
	If     string // virtio ("" too), nvme or ahci
}

// DiskInterfaces are the accepted values of Disk.If.
var DiskInterfaces = []string{"virtio", "nvme", "ahci"}

// ParseDisk reads "file[,size=S][,format=F][,if=virtio|nvme|ahci]".
func ParseDisk(s string) (Disk, error) {
	parts := strings.Split(s, ",")
	d := Disk{Path: parts[0]}
	if d.Path == "" {
		return d, fmt.Errorf("--disk %q: no file name (want file[,size=1G][,format=raw])", s)
	}
	for _, kv := range parts[1:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "size":
			d.Size = v
		case "format":
			d.Format = v
		case "if":
			if !slices.Contains(DiskInterfaces, v) {
				return d, fmt.Errorf("--disk %q: if=%q: want one of %s", s, v, strings.Join(DiskInterfaces, ", "))
			}
			if v != "virtio" {
				d.If = v
			}
		default:
			return d, fmt.Errorf("--disk %q: unknown option %q (known: size, format, if)", s, k)
		}
	}
	if d.Format == "" {
		d.Format = formatFromName(d.Path)
	}
	if d.Size != "" {
		if _, err := ParseSize(d.Size); err != nil {
			return d, fmt.Errorf("--disk %q: %w", s, err)
		}
	}
	return d, nil
}

func formatFromName(p string) string {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".qcow2":
		return "qcow2"
	case ".vhd", ".vpc":
		return "vpc"
	case ".vmdk":
		return "vmdk"
	}
	return "raw"
}

// ParseSize reads sizes like 512M, 1G, 4096 (bytes).
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	num := strings.TrimSuffix(strings.ToUpper(s), "B")
	if n := len(num); n > 0 {
		switch num[n-1] {
		case 'K':
			mult, num = 1<<10, num[:n-1]
		case 'M':
			mult, num = 1<<20, num[:n-1]
		case 'G':
			mult, num = 1<<30, num[:n-1]
		case 'T':
			mult, num = 1<<40, num[:n-1]
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("size %q is not a positive size such as 512M or 4G", s)
	}
	return n * mult, nil
}

// Ensure creates the disk when it does not exist: a sparse file for raw,
// qemu-img for other formats.
func (d Disk) Ensure(ctx context.Context) error {
	if _, err := os.Stat(d.Path); err == nil {
		return nil
	} else if !os.IsNotExist(err) {
		return fmt.Errorf("disk %s: %w", d.Path, err)
	}
	size := d.Size
	if size == "" {
		size = "1G"
	}
	n, err := ParseSize(size)
	if err != nil {
		return fmt.Errorf("disk %s: %w", d.Path, err)
	}
	if d.Format != "raw" {
		out, err := exec.CommandContext(ctx, "qemu-img", "create", "-q", "-f", d.Format, d.Path, strconv.FormatInt(n, 10)).CombinedOutput()
		if err != nil {
			return fmt.Errorf("creating disk %s with qemu-img (install qemu-utils): %w: %s", d.Path, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	f, err := os.OpenFile(d.Path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("creating disk %s: %w", d.Path, err)
	}
	if err := f.Truncate(n); err != nil {
		f.Close()
		os.Remove(d.Path)
		return fmt.Errorf("creating disk %s: %w", d.Path, err)
	}
	return f.Close()
}

// args attaches the disk; i is its place among the --disk ones, which
// names its drive and controller.
func (d Disk) args(i int) []string {
	id := "disk" + strconv.Itoa(i)
	drive := "if=none,id=" + id + ",file=" + d.Path + ",format=" + d.Format
	switch d.If {
	case "nvme":
		return []string{"-drive", drive, "-device", "nvme,drive=" + id + ",serial=keel" + strconv.Itoa(i)}
	case "ahci":
		// A controller of its own: the pc board has none, and q35's
		// built-in one holds the CD-ROM.
		return []string{"-device", "ahci,id=ahci" + strconv.Itoa(i), "-drive", drive, "-device", "ide-hd,drive=" + id + ",bus=ahci" + strconv.Itoa(i) + ".0"}
	}
	return []string{"-drive", "file=" + d.Path + ",if=virtio,format=" + d.Format}
}
