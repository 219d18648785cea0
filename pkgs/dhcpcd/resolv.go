package main

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/keel-os/keel/internal/atomicfile"
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
	if err := atomicfile.WriteFile(r.path, []byte(content), 0o644); err != nil {
		return fmt.Errorf("%w (is the directory of %s bind-mounted into the container?)", err, r.path)
	}
	r.last = content
	return nil
}
