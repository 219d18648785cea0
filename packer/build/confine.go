package build

import (
	"fmt"
	"io"
	"strings"

	kbundle "github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/packer/bundle"
)

// riskyContainer is a container whose entry or label loosens Keel's
// default confinement.
type riskyContainer struct {
	phase       kbundle.Phase
	name, image string
	risks       []bundle.Risk
}

// String is the container's warning line: what it can do, the setting
// that asked for it and where that setting came from (said once at the
// end when every setting came from the same place).
func (r riskyContainer) String() string {
	same := true
	for _, k := range r.risks {
		same = same && k.From == r.risks[0].From
	}
	parts := make([]string, len(r.risks))
	for i, k := range r.risks {
		parts[i] = k.String()
		if same {
			parts[i] = fmt.Sprintf("%s (%s)", k.What, k.Setting)
		}
	}
	line := fmt.Sprintf("%s %q (%s): %s", r.phase, r.name, r.image, strings.Join(parts, "; "))
	switch {
	case same && len(r.risks) == 1:
		line += ", set in " + r.risks[0].From
	case same:
		line += "; all set in " + r.risks[0].From
	}
	return line
}

func (o *Options) warn() io.Writer {
	switch {
	case o.Warn != nil:
		return o.Warn
	case o.Log != nil:
		return o.Log
	}
	return io.Discard
}

// confinement prints one warning line per risky container and, with
// Strict, refuses the build.
func (o *Options) confinement(risky []riskyContainer) error {
	for _, r := range risky {
		fmt.Fprintf(o.warn(), "warning: %s\n", r)
	}
	if !o.Strict || len(risky) == 0 {
		return nil
	}
	names := make([]string, len(risky))
	for i, r := range risky {
		names[i] = fmt.Sprintf("%s %q", r.phase, r.name)
	}
	return fmt.Errorf("--strict: %d container(s) loosen the default confinement: %s; change their entries (or ask the image's publisher to change its label), or build without --strict (see docs/security.md)",
		len(risky), strings.Join(names, ", "))
}
