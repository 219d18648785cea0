package kmod

// globMatch matches s against an fnmatch(3) pattern with no flags, the way
// modprobe matches modalias strings: '*' and '?' match any byte including
// '/', "[...]" is a set with ranges and '!' or '^' negation, and '\' quotes
// the next byte. path.Match is not used because it stops '*' at '/', and
// DMI modalias strings contain dates like 04/01/2014.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	// Where to resume after the last '*': the pattern index after it and
	// the next s index that '*' would swallow.
	starP, starI := -1, 0
	for i < len(s) {
		if p < len(pattern) {
			switch c := pattern[p]; c {
			case '*':
				starP, starI = p+1, i
				p++
				continue
			case '?':
				p++
				i++
				continue
			case '[':
				if ok, next, valid := matchClass(pattern, p, s[i]); valid {
					if ok {
						p, i = next, i+1
						continue
					}
				} else if s[i] == '[' { // an unclosed '[' is literal
					p++
					i++
					continue
				}
			case '\\':
				if p+1 < len(pattern) && pattern[p+1] == s[i] {
					p += 2
					i++
					continue
				}
				if p+1 == len(pattern) && s[i] == '\\' {
					p++
					i++
					continue
				}
			default:
				if c == s[i] {
					p++
					i++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starI++
		p, i = starP, starI
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchClass matches b against the bracket expression starting at
// pattern[start] == '['. It returns whether b matched, the index after the
// closing ']', and whether the expression was closed at all.
func matchClass(pattern string, start int, b byte) (matched bool, next int, valid bool) {
	p := start + 1
	negate := false
	if p < len(pattern) && (pattern[p] == '!' || pattern[p] == '^') {
		negate = true
		p++
	}
	first := true
	for p < len(pattern) {
		c := pattern[p]
		if c == ']' && !first {
			return matched != negate, p + 1, true
		}
		first = false
		if c == '\\' && p+1 < len(pattern) {
			p++
			c = pattern[p]
		}
		lo, hi := c, c
		if p+2 < len(pattern) && pattern[p+1] == '-' && pattern[p+2] != ']' {
			hi = pattern[p+2]
			if hi == '\\' && p+3 < len(pattern) {
				p++
				hi = pattern[p+2]
			}
			p += 2
		}
		if lo <= b && b <= hi {
			matched = true
		}
		p++
	}
	return false, 0, false
}

// literalPrefix is the part of a pattern before its first special byte;
// every string the pattern matches starts with it.
func literalPrefix(pattern string) string {
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '*', '?', '[', '\\':
			return pattern[:i]
		}
	}
	return pattern
}
