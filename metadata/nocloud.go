package metadata

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"
)

// NoCloud reads cloud-init's NoCloud seed from a disk labelled cidata (ISO
// 9660 or FAT: user-data, meta-data, network-config), LinuxKit's metadata
// ISO (a "config" file on any CD-ROM), or an OpenStack config drive (label
// config-2). The disk is mounted read-only, read through an os.Root, and
// unmounted again.
type NoCloud struct {
	// SysBlock lists block devices (default /sys/class/block); DevDir
	// holds their nodes (default /dev).
	SysBlock, DevDir string
	// MountDir is where a scratch mount point is made (default /tmp).
	MountDir string
	// Seed, when set, is a directory read instead of any disk (tests and
	// ds=nocloud;s=file://).
	Seed  string
	Limit int64
	// LoadModule loads a file system module when mount says ENODEV.
	LoadModule func(name string) error
	Log        func(format string, args ...any)

	once sync.Once
	data *Data
	err  error
}

// Name implements Provider.
func (p *NoCloud) Name() string { return "nocloud" }

// Local implements Local.
func (p *NoCloud) Local() bool { return true }

// Probe implements Provider: it reads the first seed it finds and keeps it
// for Fetch, as the disk is mounted only once.
func (p *NoCloud) Probe(ctx context.Context) (Strength, error) {
	p.once.Do(func() { p.data, p.err = p.find(ctx) })
	if p.err != nil {
		return Absent, p.err
	}
	return Strong, nil
}

// Fetch implements Provider.
func (p *NoCloud) Fetch(ctx context.Context) (*Data, error) {
	if _, err := p.Probe(ctx); err != nil {
		return nil, err
	}
	return p.data, nil
}

func (p *NoCloud) logf(format string, args ...any) {
	if p.Log != nil {
		p.Log(format, args...)
	}
}

type seedDevice struct {
	dev string
	vol Volume
}

func (p *NoCloud) find(ctx context.Context) (*Data, error) {
	if p.Seed != "" {
		return p.readSeed(ctx, p.Seed, "NoCloud")
	}
	devs := p.candidates()
	if len(devs) == 0 {
		return nil, &BadAnswer{errors.New("nocloud: no disk labelled cidata or config-2, and no CD-ROM")}
	}
	var errs []error
	for _, d := range devs {
		data, err := p.readDevice(ctx, d)
		if err == nil {
			return data, nil
		}
		errs = append(errs, err)
	}
	return nil, &BadAnswer{errors.Join(errs...)}
}

// candidates lists devices labelled cidata or config-2 first, then CD-ROMs
// holding an ISO 9660 file system.
func (p *NoCloud) candidates() []seedDevice {
	ents, err := os.ReadDir(p.SysBlock)
	if err != nil {
		return nil
	}
	var labelled, cds []seedDevice
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") {
			continue
		}
		dev := filepath.Join(p.DevDir, name)
		f, err := os.Open(dev)
		if err != nil {
			continue
		}
		vol := ReadVolume(f)
		f.Close()
		switch {
		case vol.FSType != "" && vol.HasLabel("cidata", "CIDATA", "config-2", "CONFIG-2"):
			labelled = append(labelled, seedDevice{dev, vol})
		case vol.FSType == "iso9660" && strings.HasPrefix(name, "sr"):
			cds = append(cds, seedDevice{dev, vol})
		}
	}
	sort.Slice(labelled, func(i, j int) bool { return labelled[i].dev < labelled[j].dev })
	return append(labelled, cds...)
}

func (p *NoCloud) readDevice(ctx context.Context, d seedDevice) (*Data, error) {
	dir, err := os.MkdirTemp(p.MountDir, "seed-")
	if err != nil {
		return nil, fmt.Errorf("nocloud: %w", err)
	}
	defer os.Remove(dir)
	if err := p.mount(d.dev, dir, d.vol.FSType); err != nil {
		return nil, err
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	kind := "NoCloud"
	if d.vol.HasLabel("config-2", "CONFIG-2") {
		kind = "config-2"
	}
	data, err := p.readSeed(ctx, dir, kind)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.dev, err)
	}
	p.logf("nocloud: read %s (%s, labels %v)", d.dev, d.vol.FSType, d.vol.Labels)
	return data, nil
}

func (p *NoCloud) mount(dev, dir, fstype string) error {
	flags := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	err := unix.Mount(dev, dir, fstype, flags, "")
	if errors.Is(err, unix.ENODEV) && p.LoadModule != nil {
		mods := map[string][]string{"iso9660": {"isofs", "nls_utf8"}, "vfat": {"vfat", "nls_cp437", "nls_ascii", "nls_utf8"}}[fstype]
		for _, m := range mods {
			if lerr := p.LoadModule(m); lerr != nil {
				p.logf("nocloud: loading %s: %v", m, lerr)
			}
		}
		err = unix.Mount(dev, dir, fstype, flags, "")
	}
	if err != nil {
		return fmt.Errorf("nocloud: mounting %s (%s) read-only: %w", dev, fstype, err)
	}
	return nil
}

// nocloudMeta is NoCloud's meta-data (YAML).
type nocloudMeta struct {
	InstanceID    string    `yaml:"instance-id"`
	LocalHostname string    `yaml:"local-hostname"`
	Hostname      string    `yaml:"hostname"`
	PublicKeys    yaml.Node `yaml:"public-keys"`
}

// readSeed reads a mounted seed: NoCloud's files, LinuxKit's "config", or
// a config drive's openstack/latest files.
func (p *NoCloud) readSeed(ctx context.Context, dir, kind string) (*Data, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if kind == "config-2" {
		b, err := readLimited(ctx, root, "openstack/latest/meta_data.json", p.Limit)
		if err != nil {
			return nil, err
		}
		doc, err := parseOpenStack(b)
		if err != nil {
			return nil, err
		}
		ud, err := readOptional(ctx, root, "openstack/latest/user_data", p.Limit)
		if err != nil {
			return nil, err
		}
		d := doc.data(ud)
		d.Provider = "Openstack config-2"
		return d, nil
	}
	d := &Data{Provider: "NoCloud", Files: map[string]string{}}
	for _, name := range []string{"user-data", "config"} {
		if d.Userdata, err = readOptional(ctx, root, name, p.Limit); err != nil || d.Userdata != nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	meta, err := readOptional(ctx, root, "meta-data", p.Limit)
	if err != nil {
		return nil, err
	}
	if d.Userdata == nil && meta == nil {
		return nil, &BadAnswer{errors.New("no user-data, config or meta-data file")}
	}
	if len(meta) > 0 {
		var m nocloudMeta
		if err := yaml.Unmarshal(meta, &m); err != nil {
			return nil, &BadAnswer{fmt.Errorf("meta-data is not YAML: %w", err)}
		}
		d.Hostname = m.LocalHostname
		if d.Hostname == "" {
			d.Hostname = m.Hostname
		}
		if m.InstanceID != "" {
			d.Files["instance_id"] = m.InstanceID
		}
		d.SSHKeys = yamlStrings(&m.PublicKeys)
	}
	nc, err := readOptional(ctx, root, "network-config", p.Limit)
	if err != nil {
		return nil, err
	}
	if nc != nil {
		d.Files["network-config"] = string(nc)
	}
	return d, nil
}

// yamlStrings collects the string scalars of a string, list or map node
// (public-keys is written all three ways).
func yamlStrings(n *yaml.Node) []string {
	var out []string
	switch n.Kind {
	case yaml.ScalarNode:
		out = append(out, n.Value)
	case yaml.SequenceNode:
		for _, c := range n.Content {
			out = append(out, yamlStrings(c)...)
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			out = append(out, yamlStrings(n.Content[i])...)
		}
	}
	return out
}
