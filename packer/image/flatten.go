package image

import (
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// MobyConfigLabel is the label in which LinuxKit-style images carry their
// default runtime configuration (binds, capabilities, ...) as JSON.
const MobyConfigLabel = "org.mobyproject.config"

// Flatten returns the image's final filesystem as one tar stream, with
// whiteouts and opaque directories applied. Entries from upper layers come
// first, so a directory's entry may follow entries inside it: consumers
// must create missing parent directories themselves.
func Flatten(img v1.Image) io.ReadCloser {
	return mutate.Extract(img)
}

// Config returns the image's runtime configuration (entrypoint, env,
// labels, ...).
func Config(img v1.Image) (v1.Config, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Config{}, fmt.Errorf("reading image config: %w", err)
	}
	if cf == nil {
		return v1.Config{}, fmt.Errorf("reading image config: image has no config")
	}
	return cf.Config, nil
}

// Label returns the value of the config label key and whether it is set.
func Label(img v1.Image, key string) (string, bool, error) {
	cfg, err := Config(img)
	if err != nil {
		return "", false, err
	}
	v, ok := cfg.Labels[key]
	return v, ok, nil
}
