package kmod

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Config is what modprobe.d files and the kernel command line say about
// modules: parameters to load them with and modules not to load for a
// device. The zero value says nothing.
type Config struct {
	// Options are extra parameters per (normalized) module name, in the
	// order found; later ones win in the kernel, as with modprobe.
	Options map[string][]string
	// Blacklist stops a module from being loaded for a device (by its
	// aliases); loading it by name still works, as with modprobe.
	Blacklist map[string]bool
}

// ReadConfig reads every *.conf file in dirs (normally /etc/modprobe.d and
// /lib/modprobe.d), each directory in name order. A missing directory is
// not an error. Lines other than options and blacklist (alias, install,
// softdep...) are ignored: Keel runs no shell commands for modules.
func ReadConfig(dirs ...string) (*Config, error) {
	c := &Config{}
	for _, dir := range dirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.conf"))
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", dir, err)
		}
		sort.Strings(files)
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				return nil, fmt.Errorf("read module configuration: %w", err)
			}
			c.Parse(string(raw))
		}
	}
	return c, nil
}

// Parse adds the options and blacklist lines of one modprobe.d file. A
// backslash at the end of a line continues it; '#' starts a comment line.
func (c *Config) Parse(text string) {
	text = strings.ReplaceAll(text, "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch {
		case f[0] == "options" && len(f) >= 3:
			c.addOptions(f[1], f[2:]...)
		case f[0] == "blacklist" && len(f) == 2:
			c.blacklist(f[1])
		}
	}
}

// AddCmdline adds what the kernel command line says: NAME.param=value
// for a module's parameters, and module_blacklist= / modprobe.blacklist=
// (comma-separated names). Parameters for builtin modules are applied by
// the kernel itself and are harmless here.
func (c *Config) AddCmdline(cmdline string) {
	for _, w := range strings.Fields(cmdline) {
		if w == "--" {
			return
		}
		key, val, hasVal := strings.Cut(w, "=")
		if key == "module_blacklist" || key == "modprobe.blacklist" {
			for _, m := range strings.Split(val, ",") {
				if m != "" {
					c.blacklist(m)
				}
			}
			continue
		}
		mod, param, ok := strings.Cut(key, ".")
		if !ok || mod == "" || param == "" {
			continue
		}
		if hasVal {
			param += "=" + val
		}
		c.addOptions(mod, param)
	}
}

func (c *Config) addOptions(module string, params ...string) {
	if c.Options == nil {
		c.Options = map[string][]string{}
	}
	m := Normalize(module)
	c.Options[m] = append(c.Options[m], params...)
}

func (c *Config) blacklist(module string) {
	if c.Blacklist == nil {
		c.Blacklist = map[string]bool{}
	}
	c.Blacklist[Normalize(module)] = true
}

// params joins the configured parameters of module with explicit ones;
// explicit ones come last so they win.
func (c *Config) params(module, explicit string) string {
	var all []string
	if c != nil {
		all = append(all, c.Options[module]...)
	}
	if explicit != "" {
		all = append(all, explicit)
	}
	return strings.Join(all, " ")
}

func (c *Config) blacklisted(module string) bool {
	return c != nil && c.Blacklist[module]
}
