package daemon

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// withConfigFile puts the flags written in file (one per line, such as
// "--log-dir=/var/log"; blank lines and # comments skipped) before args, so
// an image configures svcd through the spec's files section while the
// command line still wins. A missing file is no error.
func withConfigFile(file string, args []string) ([]string, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return args, nil
	}
	if err != nil {
		return args, fmt.Errorf("reading %s: %w", file, err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.HasPrefix(line, "-") {
			return args, fmt.Errorf("%s:%d: %q is not a flag (want e.g. --log-dir=/var/log)", file, n, line)
		}
		out = append(out, line)
	}
	return append(out, args...), nil
}
