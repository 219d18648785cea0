package supervisor

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/keel-os/keel/internal/bundle"
	"github.com/keel-os/keel/svcd/api"
)

// Unit is one container bundle found on disk.
type Unit struct {
	// Name is unique among everything svcd lists; it keys the state
	// table and the logs.
	Name string
	// ID is the id given to runc or containerd.
	ID    string
	Phase string
	Dir   string
	Keel  *bundle.Keel
	// Err is why the bundle cannot be run (a bad keel.json); the unit is
	// still listed so the problem shows in `svcctl list`.
	Err error
}

// discover lists the bundles in dir in lexical order (the NNN- prefix of
// onboot and onshutdown directories sets their order). A missing dir holds
// no bundles.
func discover(dir, phase string) ([]Unit, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing %s bundles: %w", phase, err)
	}
	var units []Unit
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		u := Unit{Phase: phase, Dir: filepath.Join(dir, e.Name())}
		u.Keel, u.Err = bundle.Read(u.Dir)
		u.Name = baseName(e.Name(), phase)
		if u.Keel != nil && u.Keel.Name != "" {
			u.Name = u.Keel.Name
		}
		units = append(units, u)
	}
	return units, nil
}

// baseName strips the NNN- ordering prefix of onboot and onshutdown
// directory names.
func baseName(dir, phase string) string {
	if phase == api.PhaseService {
		return dir
	}
	if i := strings.IndexByte(dir, '-'); i > 0 && strings.Trim(dir[:i], "0123456789") == "" && i+1 < len(dir) {
		return dir[i+1:]
	}
	return dir
}

// nameUnits makes every name unique and sets container ids. Services keep
// their plain names (they are the ones people ask about); an onboot or
// onshutdown container whose name is taken becomes "<phase>-<name>", as
// LinuxKit systems often have an onboot and a service of the same name.
func nameUnits(taken map[string]bool, groups ...[]Unit) {
	for _, g := range groups {
		for i := range g {
			u := &g[i]
			name := u.Name
			if taken[name] {
				name = u.Phase + "-" + u.Name
			}
			for n := 2; taken[name]; n++ {
				name = fmt.Sprintf("%s-%s-%d", u.Phase, u.Name, n)
			}
			taken[name] = true
			u.Name = name
			u.ID = name
			if u.Phase != api.PhaseService {
				u.ID = "keel-" + name
				if !strings.HasPrefix(name, u.Phase+"-") {
					u.ID = "keel-" + u.Phase + "-" + name
				}
			}
		}
	}
}
