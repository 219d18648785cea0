package spec

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Position is where something was written: a file, a 1-based line and column.
// Line 0 means the position is unknown; Column 0 means only the line is known.
type Position struct {
	File   string
	Line   int
	Column int
}

// String formats the position as file:line:column, leaving out what is unknown.
func (p Position) String() string {
	file := p.File
	if file == "" {
		file = "<spec>"
	}
	switch {
	case p.Line == 0:
		return file
	case p.Column == 0:
		return fmt.Sprintf("%s:%d", file, p.Line)
	default:
		return fmt.Sprintf("%s:%d:%d", file, p.Line, p.Column)
	}
}

// Error is one problem found in a spec, with where it is.
type Error struct {
	Pos Position
	Msg string
	// more, on the last entry of a full list, counts the problems left out.
	more int
}

// Error returns "file:line:column: message".
func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// ErrorList holds every problem found in one parse or validation, so the user
// can fix them all in one go. Its Error joins them one per line.
type ErrorList []*Error

// Error returns one line per problem.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// full says whether the list holds maxErrors problems, so another would
// only be counted: callers skip costly messages (suggestions) then.
func (l ErrorList) full() bool { return len(l) >= maxErrors }

// add appends e, or once the list is full, counts it in a last summary
// entry ("... and N more"), so no input can grow the list past maxErrors+1.
func (l *ErrorList) add(e *Error) {
	if !l.full() {
		*l = append(*l, e)
		return
	}
	if last := (*l)[len(*l)-1]; last.more > 0 {
		last.more++
		return
	}
	*l = append(*l, &Error{Pos: e.Pos, more: 1})
}

// addAlways appends e even to a full list (before its summary): for the
// error that ends a parse, which must be seen.
func (l *ErrorList) addAlways(e *Error) {
	n := len(*l)
	if n > 0 && (*l)[n-1].more > 0 {
		*l = append((*l)[:n-1:n-1], e, (*l)[n-1])
		return
	}
	*l = append(*l, e)
}

// err returns the list as an error, sorted by position, or nil when empty.
// A summary of problems left out stays last.
func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	if last := l[len(l)-1]; last.more > 0 {
		last.Msg = fmt.Sprintf("... and %d more problems (fix the ones above first)", last.more)
		l[:len(l)-1].err()
		return l
	}
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Pos, l[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return l
}

// AsErrorList returns the problems held by err, if it came from this package.
func AsErrorList(err error) (ErrorList, bool) {
	var l ErrorList
	if errors.As(err, &l) {
		return l, true
	}
	return nil, false
}

// suggest returns the candidate closest to word when it is close enough to
// be a plausible typo, or "".
func suggest(word string, candidates []string) string {
	best, bestDist := "", -1
	lw := strings.ToLower(word)
	for _, c := range candidates {
		if strings.ToLower(c) == lw {
			return c
		}
		d := editDistance(lw, strings.ToLower(c))
		if bestDist < 0 || d < bestDist || (d == bestDist && c < best) {
			best, bestDist = c, d
		}
	}
	limit := 2
	if len(word) <= 3 {
		limit = 1
	}
	if len(word) >= 12 {
		limit = 3
	}
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// didYouMean formats a suggestion suffix, or "" when there is none.
func didYouMean(word string, candidates []string) string {
	if s := suggest(word, candidates); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, in bytes. The
// inputs are field and capability names, so bytes are good enough.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		// Long words are never typos of our short names; skip the work.
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// maxErrors bounds the problems one parse reports; the rest are counted
// in a last "... and N more" entry, so hostile input cannot grow the list.
const maxErrors = 50
