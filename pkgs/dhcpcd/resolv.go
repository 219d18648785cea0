package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// resolvConfPath is where /etc/resolv.conf points on a Keel system (init
// makes the link), writable on the read-only root.
const resolvConfPath = "/run/resolvconf/resolv.conf"

// ResolvConf renders resolv.conf from the DNS settings of every link,
// in link-name order so the file does not change with lease timing.
// glibc and musl read at most three nameservers; extra ones are kept
// anyway, as other resolvers read them.
func ResolvConf(links map[string]Config) string {
	names := make([]string, 0, len(links))
	for n := range links {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString("# Written by Keel's dhcpcd from its DHCP leases.\n")
	var search []string
	seen := map[string]bool{}
	for _, n := range names {
		for _, s := range links[n].Search {
			// configFromACK has refused invalid names already; checked
			// again as a line break here would inject lines.
			if validDNSName(s) && !slices.Contains(search, s) {
				search = append(search, s)
			}
		}
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	for _, n := range names {
		for _, d := range links[n].DNS {
			if s := d.String(); !seen[s] {
				seen[s] = true
				fmt.Fprintf(&b, "nameserver %s\n", s)
			}
		}
	}
	return b.String()
}

// writeFileAtomic replaces path with data so readers see the old or the
// new file, never half of one.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w (is its directory bind-mounted into the container?)", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return nil
}

// resolver keeps the DNS settings of every link and rewrites the file
// when they change. Links run concurrently, hence the lock.
type resolver struct {
	path  string
	mu    sync.Mutex
	links map[string]Config
	last  string
}

func newResolver(path string) *resolver {
	return &resolver{path: path, links: map[string]Config{}}
}

// set records a link's configuration (nil drops the link) and rewrites
// the file when its content changed.
func (r *resolver) set(link string, c *Config) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c == nil {
		delete(r.links, link)
	} else {
		r.links[link] = *c
	}
	content := ResolvConf(r.links)
	if content == r.last {
		return nil
	}
	if err := writeFileAtomic(r.path, []byte(content)); err != nil {
		return err
	}
	r.last = content
	return nil
}
