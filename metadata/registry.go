package metadata

import (
	"fmt"
	"strings"
)

// registration is one metadata provider as keel.metadata knows it. The
// registry below is the only list of providers: Names, New and the error
// for an unknown name all read it, so a new provider is one entry.
type registration struct {
	// Name is what keel.metadata calls it.
	Name string
	// Aliases are other names it answers to (LinuxKit's spellings).
	Aliases []string
	// DefaultURL is a network provider's base URL when keel.metadata gives
	// none; "" for the local providers, whose argument is a path.
	DefaultURL string
	// Auto says it is part of the automatic selection ("" or "auto"). The
	// registry lists these in preference order.
	Auto bool
	// New makes the provider from what New was given.
	New func(a providerArgs) (Provider, error)
}

// providerArgs is what a constructor gets. Base is the argument with its
// trailing slashes trimmed, or DefaultURL when there is no argument.
type providerArgs struct {
	Arg, Base string
	Env       Env
	Lim       Limits
	F         *Fetcher
	Log       func(string, ...any)
}

// registry lists the providers; the Auto ones in preference order: local
// sources first, then network ones. AWS comes last among the
// 169.254.169.254 clouds because others imitate its paths.
var registry = []registration{
	{Name: "fw_cfg", Auto: true, New: func(a providerArgs) (Provider, error) {
		return &FwCfg{Dir: a.Env.FwCfgDir, Limit: a.Lim.Response, LoadModule: a.Env.LoadModule}, nil
	}},
	{Name: "nocloud", Aliases: []string{"cdrom"}, Auto: true, New: func(a providerArgs) (Provider, error) {
		return &NoCloud{SysBlock: a.Env.SysBlock, DevDir: a.Env.DevDir, MountDir: a.Env.MountDir, Seed: a.Arg,
			Limit: a.Lim.Response, LoadModule: a.Env.LoadModule, Log: a.Log}, nil
	}},
	{Name: "gcp", DefaultURL: linkLocal, Auto: true, New: func(a providerArgs) (Provider, error) {
		return &GCP{Base: a.Base, F: a.F}, nil
	}},
	{Name: "azure", DefaultURL: linkLocal, Auto: true, New: func(a providerArgs) (Provider, error) {
		return &Azure{Base: a.Base, F: a.F}, nil
	}},
	{Name: "oracle", DefaultURL: linkLocal, Auto: true, New: func(a providerArgs) (Provider, error) {
		return &Oracle{Base: a.Base, F: a.F}, nil
	}},
	{Name: "digitalocean", DefaultURL: linkLocal, Auto: true, New: func(a providerArgs) (Provider, error) {
		return &DigitalOcean{Base: a.Base, F: a.F}, nil
	}},
	{Name: "upcloud", DefaultURL: linkLocal, Auto: true, New: func(a providerArgs) (Provider, error) {
		return &UpCloud{Base: a.Base, F: a.F}, nil
	}},
	{Name: "hetzner", DefaultURL: linkLocal, Auto: true, New: func(a providerArgs) (Provider, error) {
		return &Hetzner{Base: a.Base, F: a.F}, nil
	}},
	{Name: "openstack", DefaultURL: linkLocal, Auto: true, New: func(a providerArgs) (Provider, error) {
		return &OpenStack{Base: a.Base, F: a.F}, nil
	}},
	{Name: "vultr", DefaultURL: linkLocal, Auto: true, New: func(a providerArgs) (Provider, error) {
		return &Vultr{Base: a.Base, F: a.F}, nil
	}},
	{Name: "scaleway", DefaultURL: "http://169.254.42.42", Auto: true, New: func(a providerArgs) (Provider, error) {
		return &Scaleway{Base: a.Base, F: a.F}, nil
	}},
	{Name: "equinixmetal", Aliases: []string{"packet"}, DefaultURL: "https://metadata.platformequinix.com", Auto: true,
		New: func(a providerArgs) (Provider, error) {
			return &EquinixMetal{Base: a.Base, F: a.F}, nil
		}},
	{Name: "aws", DefaultURL: linkLocal, Auto: true, New: func(a providerArgs) (Provider, error) {
		return &AWS{Base: a.Base, F: a.F}, nil
	}},
	// file is never guessed: it needs a path.
	{Name: "file", New: func(a providerArgs) (Provider, error) {
		if a.Arg == "" {
			return nil, fmt.Errorf("metadata provider file needs a path: file=PATH")
		}
		return &File{Path: a.Arg, Limit: a.Lim.Response}, nil
	}},
}

// Names lists the automatically selected providers in preference order.
var Names = autoNames()

func autoNames() []string {
	var names []string
	for _, r := range registry {
		if r.Auto {
			names = append(names, r.Name)
		}
	}
	return names
}

// lookup finds the registration called name or one of its aliases.
func lookup(name string) (registration, bool) {
	for _, r := range registry {
		if r.Name == name {
			return r, true
		}
		for _, a := range r.Aliases {
			if a == name {
				return r, true
			}
		}
	}
	return registration{}, false
}

// New makes the provider called name; arg (after '=' in keel.metadata)
// is a path for file and nocloud, a base URL for the network providers.
func New(name, arg string, env Env, lim Limits, log func(string, ...any)) (Provider, error) {
	r, ok := lookup(name)
	if !ok {
		return nil, fmt.Errorf("unknown metadata provider %q (known: file=PATH, %s)", name, strings.Join(Names, ", "))
	}
	base := r.DefaultURL
	if arg != "" {
		base = strings.TrimRight(arg, "/")
	}
	return r.New(providerArgs{Arg: arg, Base: base, Env: env, Lim: lim, F: NewFetcher(lim.Response), Log: log})
}
