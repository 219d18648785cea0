package main

import "strings"

// validDNSName says whether s is a domain name fit for resolv.conf's
// search line: RFC 1035 host names (labels of letters, digits and
// hyphens, not starting or ending with a hyphen, 1-63 bytes each, 253 in
// all), with an optional trailing dot. A DHCP server is on the network,
// so its domain options are hostile input: anything else (a newline
// would inject lines such as "nameserver") is refused.
func validDNSName(s string) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
