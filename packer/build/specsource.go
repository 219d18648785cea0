package build

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/keel-os/keel/packer/spec"
)

// maxSpecBytes bounds a spec read from a URL or stdin: LinuxKit's largest
// examples are a few KiB.
const maxSpecBytes = 4 << 20

// specFetchTimeout bounds fetching a spec from a URL.
const specFetchTimeout = time.Minute

// IsURL says whether a spec argument names an http(s) URL, which keel
// build reads as LinuxKit's build does.
func IsURL(name string) bool {
	return strings.HasPrefix(name, "https://") || strings.HasPrefix(name, "http://")
}

// DefaultName is the output name keel build takes from its first spec:
// the file's base name without extension (of a URL, its path's), "keel"
// for stdin.
func DefaultName(spec string) string {
	name := spec
	if IsURL(spec) {
		if u, err := url.Parse(spec); err == nil {
			name = path.Base(u.Path)
		}
	}
	name = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	if spec == "-" || name == "" || name == "." || name == "/" {
		return "keel"
	}
	return name
}

// readSpec returns a spec file's bytes: "-" is stdin, an http(s) URL is
// fetched, anything else is a local file.
func readSpec(ctx context.Context, name string, stdin io.Reader) ([]byte, error) {
	switch {
	case name == "-":
		if stdin == nil {
			stdin = os.Stdin
		}
		return readBounded(stdin, name)
	case IsURL(name):
		return fetchSpec(ctx, name)
	}
	return os.ReadFile(name)
}

func readBounded(r io.Reader, name string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSpecBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxSpecBytes {
		return nil, fmt.Errorf("%s is over %d MiB: not a spec", name, maxSpecBytes>>20)
	}
	return data, nil
}

func fetchSpec(ctx context.Context, raw string) ([]byte, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%q is not a URL keel can fetch: want http(s)://HOST/PATH", raw)
	}
	ctx, cancel := context.WithTimeout(ctx, specFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", raw, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: the server answered %s", raw, resp.Status)
	}
	return readBounded(resp.Body, raw)
}

// checkRemote refuses what a spec read from a URL cannot mean: a package
// directory (relative to what?) or a file copied from this machine, which
// would let whoever serves the spec put this machine's files (keys,
// credentials) into an image the user may then publish.
func checkRemote(name string, s *spec.Spec) error {
	var bad []string
	_ = s.MapImages(func(ref string) (string, error) {
		if strings.HasPrefix(ref, spec.PkgPrefix) {
			bad = append(bad, fmt.Sprintf("image %s names a package directory", ref))
		}
		return ref, nil
	})
	for i, f := range s.Files {
		if f.Source != "" {
			bad = append(bad, fmt.Sprintf("files[%d] (%s) copies %s from this machine", i, f.Path, f.Source))
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%s: a spec read from a URL may name only images and inline files: %s; download it and build the local copy if that is meant", name, strings.Join(bad, "; "))
}
