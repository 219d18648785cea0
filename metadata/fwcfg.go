package metadata

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// FwCfg reads QEMU's firmware configuration device, filled on the host with
// `-fw_cfg name=opt/keel/userdata,file=PATH` (also opt/keel/hostname and
// opt/keel/ssh_authorized_keys). The kernel's qemu_fw_cfg module shows each
// item as /sys/firmware/qemu_fw_cfg/by_name/<name>/raw.
type FwCfg struct {
	// Dir is where the items are; default
	// /sys/firmware/qemu_fw_cfg/by_name/opt/keel.
	Dir   string
	Limit int64
	// LoadModule, when set, loads qemu_fw_cfg if Dir is missing.
	LoadModule func(name string) error
}

// FwCfgPrefix is the fw_cfg name prefix Keel reads.
const FwCfgPrefix = "opt/keel/"

// Name implements Provider.
func (p *FwCfg) Name() string { return "fw_cfg" }

// Local implements Local.
func (p *FwCfg) Local() bool { return true }

// Probe implements Provider.
func (p *FwCfg) Probe(ctx context.Context) (Strength, error) {
	if _, err := os.Stat(p.Dir); errors.Is(err, fs.ErrNotExist) && p.LoadModule != nil {
		if lerr := p.LoadModule("qemu_fw_cfg"); lerr != nil {
			return Absent, fmt.Errorf("fw_cfg: %s missing and %v", p.Dir, lerr)
		}
	}
	ents, err := os.ReadDir(p.Dir)
	if err != nil {
		return Absent, &BadAnswer{fmt.Errorf("fw_cfg: no %s items: %w", FwCfgPrefix, err)}
	}
	for _, e := range ents {
		if fwcfgItems[e.Name()] {
			return Strong, nil
		}
	}
	return Absent, &BadAnswer{fmt.Errorf("fw_cfg: none of userdata, hostname, ssh_authorized_keys under %s", FwCfgPrefix)}
}

var fwcfgItems = map[string]bool{"userdata": true, "hostname": true, "ssh_authorized_keys": true}

// Fetch implements Provider.
func (p *FwCfg) Fetch(ctx context.Context) (*Data, error) {
	// by_name/<name> are the kernel's symlinks to numbered entries, so
	// each item is opened by its fixed name, not through an os.Root.
	read := func(item string) ([]byte, error) {
		f, err := os.Open(filepath.Join(p.Dir, item, "raw"))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, p.Limit+1))
		if err != nil {
			return nil, fmt.Errorf("fw_cfg: reading %s: %w", item, err)
		}
		if int64(len(b)) > p.Limit {
			return nil, fmt.Errorf("fw_cfg: %s: %w (more than %d bytes)", item, ErrTooLarge, p.Limit)
		}
		return b, nil
	}
	d := &Data{Provider: "fw_cfg"}
	var err error
	if d.Userdata, err = read("userdata"); err != nil {
		return nil, err
	}
	h, err := read("hostname")
	if err != nil {
		return nil, err
	}
	d.Hostname = text(h)
	k, err := read("ssh_authorized_keys")
	if err != nil {
		return nil, err
	}
	if len(k) > 0 {
		d.SSHKeys = []string{string(k)}
	}
	return d, nil
}
