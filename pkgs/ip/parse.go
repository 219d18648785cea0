package main

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Command is one `ip` command of the subset Keel implements.
type Command struct {
	Object string // "address", "link" or "route"
	Verb   string // "add", "del" or (links) "set"
	Dev    string

	Addr netip.Prefix // address add/del

	Up  *bool // link set: up (true), down (false) or neither
	MTU int   // link set: 0 = unchanged

	Dst     netip.Prefix // route add/del
	Gateway netip.Addr   // route: zero for a route onto the link
}

// supported is the grammar, for error messages.
const supported = `supported commands:
  address add|del ADDR[/LEN] dev DEV
  link set [dev] DEV [up|down] [mtu N]
  route add|del default|ADDR[/LEN] [via GW] [dev DEV]`

// objects maps the spellings iproute2 accepts to the object's name.
var objects = map[string]string{
	"a": "address", "addr": "address", "address": "address",
	"l": "link", "link": "link",
	"r": "route", "ro": "route", "route": "route",
}

var verbs = map[string]string{"add": "add", "a": "add", "del": "del", "delete": "del", "d": "del", "set": "set"}

// Parse reads one command from its words.
func Parse(words []string) (Command, error) {
	if len(words) < 2 {
		return Command{}, fmt.Errorf("%q is incomplete\n%s", strings.Join(words, " "), supported)
	}
	c := Command{Object: objects[words[0]], Verb: verbs[words[1]]}
	var err error
	switch {
	case c.Object == "":
		return c, fmt.Errorf("object %q is not supported\n%s", words[0], supported)
	case c.Object == "link" && c.Verb == "set":
		err = c.parseLink(words[2:])
	case c.Object != "link" && (c.Verb == "add" || c.Verb == "del"):
		if c.Object == "address" {
			err = c.parseAddress(words[2:])
		} else {
			err = c.parseRoute(words[2:])
		}
	default:
		return c, fmt.Errorf("%q is not supported for %s\n%s", words[1], c.Object, supported)
	}
	return c, err
}

// prefix reads ADDR or ADDR/LEN; a bare address is a host (/32), as in
// iproute2.
func prefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is4() {
			return p, fmt.Errorf("%q is not an IPv4 ADDR/LEN", s)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 address", s)
	}
	return netip.PrefixFrom(a, 32), nil
}

// value returns the word after a keyword.
func value(words []string, i int) (string, error) {
	if i+1 >= len(words) {
		return "", fmt.Errorf("%q needs a value", words[i])
	}
	return words[i+1], nil
}

func (c *Command) parseAddress(words []string) error {
	for i := 0; i < len(words); i++ {
		switch w := words[i]; {
		case w == "dev":
			v, err := value(words, i)
			if err != nil {
				return err
			}
			c.Dev, i = v, i+1
		case !c.Addr.IsValid():
			p, err := prefix(w)
			if err != nil {
				return err
			}
			c.Addr = p
		default:
			return fmt.Errorf("unexpected %q\n%s", w, supported)
		}
	}
	if !c.Addr.IsValid() || c.Dev == "" {
		return fmt.Errorf("address %s needs an address and dev DEV", c.Verb)
	}
	return nil
}

func (c *Command) parseLink(words []string) error {
	for i := 0; i < len(words); i++ {
		switch w := words[i]; w {
		case "dev":
			v, err := value(words, i)
			if err != nil {
				return err
			}
			c.Dev, i = v, i+1
		case "up", "down":
			up := w == "up"
			c.Up = &up
		case "mtu":
			v, err := value(words, i)
			if err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 68 || n > 65535 {
				return fmt.Errorf("mtu %q is not a number from 68 to 65535", v)
			}
			c.MTU, i = n, i+1
		default:
			if c.Dev != "" {
				return fmt.Errorf("unexpected %q\n%s", w, supported)
			}
			c.Dev = w
		}
	}
	if c.Dev == "" {
		return fmt.Errorf("link set needs a device")
	}
	if c.Up == nil && c.MTU == 0 {
		return fmt.Errorf("link set %s needs up, down or mtu N", c.Dev)
	}
	return nil
}

func (c *Command) parseRoute(words []string) error {
	for i := 0; i < len(words); i++ {
		switch w := words[i]; {
		case w == "via" || w == "dev":
			v, err := value(words, i)
			if err != nil {
				return err
			}
			i++
			if w == "dev" {
				c.Dev = v
				continue
			}
			gw, err := netip.ParseAddr(v)
			if err != nil || !gw.Is4() {
				return fmt.Errorf("via %q is not an IPv4 address", v)
			}
			c.Gateway = gw
		case !c.Dst.IsValid():
			if w == "default" {
				c.Dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
				continue
			}
			p, err := prefix(w)
			if err != nil {
				return err
			}
			if p != p.Masked() {
				return fmt.Errorf("route destination %s has host bits set; did you mean %s?", p, p.Masked())
			}
			c.Dst = p
		default:
			return fmt.Errorf("unexpected %q\n%s", w, supported)
		}
	}
	if !c.Dst.IsValid() {
		return fmt.Errorf("route %s needs a destination (default or ADDR/LEN)", c.Verb)
	}
	if !c.Gateway.IsValid() && c.Dev == "" {
		return fmt.Errorf("route %s %s needs via GW or dev DEV", c.Verb, c.Dst)
	}
	return nil
}

// ParseBatch reads a batch file: one command a line, blank lines and
// lines starting with # skipped. Errors name the file and line.
func ParseBatch(name string, r io.Reader) ([]Command, error) {
	var out []Command
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c, err := Parse(strings.Fields(line))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %q: %w", name, n, line, err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return out, nil
}
