package pkgbuild

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"gopkg.in/yaml.v3"

	"github.com/keel-os/keel/packer/image"
	"github.com/keel-os/keel/packer/kernel"
)

// FileName is the package description inside a package directory.
const FileName = "build.yml"

// DefaultOrg is the repository namespace of package images.
const DefaultOrg = "keel"

// Spec is the content of build.yml.
type Spec struct {
	Image      string          `yaml:"image"`
	Org        string          `yaml:"org"`
	From       string          `yaml:"from"`
	Go         []GoBinary      `yaml:"go"`
	Files      []File          `yaml:"files"`
	Debian     []DebianPackage `yaml:"debian"`
	Config     map[string]any  `yaml:"config"`
	Entrypoint []string        `yaml:"entrypoint"`
	Cmd        []string        `yaml:"cmd"`
	Env        []string        `yaml:"env"`
	Workdir    string          `yaml:"workdir"`
	Kernel     *Kernel         `yaml:"kernel"`
	// Images are other packages' images put in this one as image
	// archives (images.go).
	Images []ImageArchive `yaml:"images"`
	// Arches are the architectures the package can be built for; empty
	// means every one Keel builds (image.Architectures).
	Arches []string `yaml:"arches"`
}

// GoBinary is a Go main package built into the image.
type GoBinary struct {
	// Package is module-relative ("./init") or a full import path of a
	// module required by go.mod.
	Package string   `yaml:"package"`
	Output  string   `yaml:"output"`
	Cgo     bool     `yaml:"cgo"`
	Tags    []string `yaml:"tags"`
	// X sets string variables at link time (go build -ldflags -X), by
	// "importpath.name": the version stamps a project's own build script
	// would set. Left out of the tag's JSON when empty, so the tags of
	// packages without it stay as they were.
	X map[string]string `yaml:"x" json:",omitempty"`
}

// File is one plain file, directory, symlink or hard link in the image.
// Exactly one of Source, Contents, Directory, Symlink, Link, Concat and
// Remove is set.
type File struct {
	Source    string  `yaml:"source"`
	Contents  *string `yaml:"contents"`
	Directory bool    `yaml:"directory"`
	Symlink   string  `yaml:"symlink"`
	// Link makes Path a hard link to the regular file at this absolute
	// path, added earlier (go: outputs come first): one file under several
	// names, e.g. a multi-call binary that dispatches on its name.
	Link string `yaml:"link"`
	// Concat is an absolute glob over the files already in the image
	// (Debian packages, Go binaries, earlier entries): the file is their
	// contents in sorted path order, each ending in a newline.
	Concat string `yaml:"concat"`
	// Remove deletes Path and everything below it from what earlier
	// sources put in the image, e.g. a Debian package's documentation.
	Remove bool   `yaml:"remove"`
	Path   string `yaml:"path"`
	Mode   string `yaml:"mode"`
}

// DebianPackage is one entry of debian:. In build.yml it is either a
// package name or a mapping {name: e2fsprogs, dependencies: true}.
type DebianPackage struct {
	Name string `yaml:"name"`
	// Dependencies adds the package's Depends and Pre-Depends closure, so
	// that a dynamically linked program finds its libraries.
	Dependencies bool `yaml:"dependencies"`
}

// UnmarshalYAML accepts the plain-name form besides the mapping.
func (d *DebianPackage) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		d.Name, d.Dependencies = n.Value, false
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: a debian entry is a package name or a mapping {name: NAME, dependencies: true}", n.Line)
	}
	type plain DebianPackage // without this method, so Decode does not recurse
	var p plain
	if err := n.Decode(&p); err != nil {
		return err
	}
	*d = DebianPackage(p)
	return nil
}

// Kernel makes the package a LinuxKit-layout kernel image.
type Kernel struct {
	// Debian names the kernel package or a meta package depending on it,
	// e.g. linux-image-cloud-amd64. "{arch}" in it stands for the
	// architecture built for (linux-image-cloud-{arch}), so one build.yml
	// serves every architecture.
	Debian string `yaml:"debian"`
	// Modules is the module choice the kernel image recommends to a spec
	// that makes none: "" for keel build's default set, "all" for every
	// module (a kernel for physical machines, whose drivers no default
	// set can guess). It becomes the image's kernel.ModulesLabel.
	Modules string `yaml:"modules"`
}

// ArchPlaceholder is replaced by the target architecture in Kernel.Debian.
const ArchPlaceholder = "{arch}"

// Package returns the Debian kernel package to build for arch.
func (k *Kernel) Package(arch string) string {
	return strings.ReplaceAll(k.Debian, ArchPlaceholder, arch)
}

// Package is a loaded, validated package directory.
type Package struct {
	Dir  string // absolute
	Spec Spec
	raw  []byte

	// UpdateLock resolves the Debian packages from apt's lists again
	// instead of taking them from the lock file.
	UpdateLock bool

	// Arch is the architecture to build for (image.Architectures); empty
	// means amd64. Set it before the first Tag or Ref.
	Arch string

	// TagCache is a directory for records of the Go part of the tag
	// (gocache.go); empty computes it every time.
	TagCache string

	// Filled by Tag: the resolved inputs the build must use.
	tag       string
	debs      []debInfo
	kernelDeb debInfo
	base      *Package   // from: a package directory, loaded by Tag
	images    []*Package // images: the packages, loaded by Tag
	baseRef   string     // from:'s reference: the base package's or the image's

	// chain holds the directories of the packages that name this one in
	// from:, to report a cycle instead of recursing forever.
	chain []string
}

// shape describes which keys a YAML mapping may hold, so unknown keys are
// reported with their position instead of silently ignored.
type shape struct {
	keys map[string]*shape // mapping with these keys; nil value = leaf
	list *shape            // sequence whose items have this shape
}

var buildYMLShape = &shape{keys: map[string]*shape{
	"image": nil, "org": nil, "from": nil, "config": nil, "arches": nil,
	"entrypoint": nil, "cmd": nil, "env": nil, "workdir": nil,
	"go": {list: &shape{keys: map[string]*shape{
		"package": nil, "output": nil, "cgo": nil, "tags": nil, "x": nil,
	}}},
	"files": {list: &shape{keys: map[string]*shape{
		"source": nil, "contents": nil, "directory": nil, "symlink": nil, "link": nil, "concat": nil, "remove": nil, "path": nil, "mode": nil,
	}}},
	"kernel": {keys: map[string]*shape{"debian": nil, "modules": nil}},
	"debian": {list: &shape{keys: map[string]*shape{"name": nil, "dependencies": nil}}},
	"images": {list: &shape{keys: map[string]*shape{"package": nil, "name": nil, "path": nil}}},
}}

func checkShape(file string, n *yaml.Node, s *shape) error {
	if s == nil {
		return nil
	}
	switch {
	case s.keys != nil && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			sub, ok := s.keys[k.Value]
			if !ok {
				known := make([]string, 0, len(s.keys))
				for name := range s.keys {
					known = append(known, name)
				}
				sort.Strings(known)
				return fmt.Errorf("%s:%d:%d: unknown key %q (known keys: %s)", file, k.Line, k.Column, k.Value, strings.Join(known, ", "))
			}
			if err := checkShape(file, n.Content[i+1], sub); err != nil {
				return err
			}
		}
	case s.list != nil && n.Kind == yaml.SequenceNode:
		for _, item := range n.Content {
			if err := checkShape(file, item, s.list); err != nil {
				return err
			}
		}
	}
	// Wrong kinds are reported by Decode with their line.
	return nil
}

// Load reads and checks dir/build.yml.
func Load(dir string) (*Package, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	file := filepath.Join(abs, FileName)
	raw, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a package directory: it has no %s", dir, FileName)
		}
		return nil, err
	}
	spec, err := parse(file, raw)
	if err != nil {
		return nil, err
	}
	return &Package{Dir: abs, Spec: *spec, raw: raw}, nil
}

func parse(file string, raw []byte) (*Spec, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, fmt.Errorf("%s: empty file: want at least 'image: <name>'", file)
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d:%d: want a mapping of keys (image, go, files, ...)", file, root.Line, root.Column)
	}
	if err := checkShape(file, root, buildYMLShape); err != nil {
		return nil, err
	}
	var s Spec
	if err := root.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &s, nil
}

func (s *Spec) validate() error {
	if s.Image == "" {
		return errors.New("missing required key 'image' (the image name, e.g. image: init)")
	}
	if s.Org == "" {
		s.Org = DefaultOrg
	}
	if strings.Contains(s.Image, "/") {
		return fmt.Errorf("image %q: put the namespace in 'org', not in the image name", s.Image)
	}
	if _, err := name.NewRepository(s.Org + "/" + s.Image); err != nil {
		return fmt.Errorf("org %q and image %q do not form a valid repository name (use lowercase letters, digits, '.', '_', '-'): %w", s.Org, s.Image, err)
	}
	if s.Kernel != nil {
		if s.Kernel.Debian == "" {
			return errors.New("kernel: missing 'debian' (the kernel package, e.g. linux-image-cloud-{arch})")
		}
		if strings.ContainsAny(strings.ReplaceAll(s.Kernel.Debian, ArchPlaceholder, ""), " =/:{}") {
			return fmt.Errorf("kernel: %q is not a Debian package name (it may hold {arch})", s.Kernel.Debian)
		}
		if m := s.Kernel.Modules; m != "" && m != kernel.ModulesAll {
			return fmt.Errorf("kernel: modules: %q is not %q (or leave it out for keel build's default set)", m, kernel.ModulesAll)
		}
		// debian: is allowed: its packages' firmware joins the modules.
		if len(s.Go)+len(s.Files)+len(s.Images) != 0 || s.Config != nil || len(s.Entrypoint)+len(s.Cmd)+len(s.Env) != 0 || s.Workdir != "" || s.From != "" {
			return errors.New("a kernel package holds only the kernel and its firmware (debian:): remove from, go, files, images, config, entrypoint, cmd, env and workdir")
		}
	}
	if err := checkFrom(s.From); err != nil {
		return err
	}
	if err := checkImages(s.Images); err != nil {
		return err
	}
	for i, a := range s.Arches {
		if err := image.CheckArch(a); err != nil {
			return fmt.Errorf("arches[%d]: %w", i, err)
		}
		if slices.Contains(s.Arches[:i], a) {
			return fmt.Errorf("arches[%d]: %s is listed twice", i, a)
		}
	}
	for i, g := range s.Go {
		if g.Package == "" {
			return fmt.Errorf("go[%d]: missing 'package' (e.g. ./init)", i)
		}
		if !strings.HasPrefix(g.Output, "/") {
			return fmt.Errorf("go[%d] (%s): 'output' must be an absolute path in the image, got %q", i, g.Package, g.Output)
		}
		if err := checkX(g.X); err != nil {
			return fmt.Errorf("go[%d] (%s): x: %w", i, g.Package, err)
		}
	}
	for i, f := range s.Files {
		if !strings.HasPrefix(f.Path, "/") || path.Clean(f.Path) == "/" {
			return fmt.Errorf("files[%d]: 'path' must be an absolute path below /, got %q", i, f.Path)
		}
		kinds := 0
		for _, set := range []bool{f.Source != "", f.Contents != nil, f.Directory, f.Symlink != "", f.Link != "", f.Concat != "", f.Remove} {
			if set {
				kinds++
			}
		}
		if kinds != 1 {
			return fmt.Errorf("files[%d] (%s): set exactly one of source, contents, directory, symlink, link, concat, remove", i, f.Path)
		}
		if f.Link != "" && (!strings.HasPrefix(f.Link, "/") || path.Clean(f.Link) == "/") {
			return fmt.Errorf("files[%d] (%s): link %q must be the absolute path of a file in the image, like /usr/bin/svcd", i, f.Path, f.Link)
		}
		if f.Concat != "" {
			if _, err := path.Match(f.Concat, ""); err != nil || !strings.HasPrefix(f.Concat, "/") {
				return fmt.Errorf("files[%d] (%s): concat %q is not an absolute glob pattern like /usr/share/x/*.crt", i, f.Path, f.Concat)
			}
		}
		if f.Mode != "" {
			if _, err := parseMode(f.Mode); err != nil {
				return fmt.Errorf("files[%d] (%s): %w", i, f.Path, err)
			}
			if f.Symlink != "" || f.Link != "" || f.Remove {
				return fmt.Errorf("files[%d] (%s): a symlink, hard link or removal has no mode (a hard link shares its file's)", i, f.Path)
			}
		}
	}
	seen := map[string]bool{}
	for i, d := range s.Debian {
		if d.Name == "" || strings.ContainsAny(d.Name, " =/:") {
			return fmt.Errorf("debian[%d]: %q is not a Debian package name", i, d.Name)
		}
		if seen[d.Name] {
			return fmt.Errorf("debian[%d]: %s is listed twice", i, d.Name)
		}
		seen[d.Name] = true
	}
	if s.Config != nil {
		if _, err := json.Marshal(s.Config); err != nil {
			return fmt.Errorf("config: cannot be written as JSON (keys must be strings): %w", err)
		}
	}
	return nil
}

func parseMode(s string) (fs.FileMode, error) {
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, fmt.Errorf("mode %q is not an octal permission like \"0644\"", s)
	}
	m := fs.FileMode(v & 0o777)
	if v&0o4000 != 0 {
		m |= fs.ModeSetuid
	}
	if v&0o2000 != 0 {
		m |= fs.ModeSetgid
	}
	if v&0o1000 != 0 {
		m |= fs.ModeSticky
	}
	return m, nil
}

// mobyConfig is the JSON of the config key, with sorted keys.
func (s *Spec) mobyConfig() (string, bool, error) {
	if s.Config == nil {
		return "", false, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s.Config); err != nil {
		return "", false, err
	}
	return strings.TrimSuffix(buf.String(), "\n"), true, nil
}
