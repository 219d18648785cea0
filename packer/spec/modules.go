package spec

import (
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Modules is Keel's `kernel: modules:` extension: which of the kernel
// image's modules go into the image beyond the packer's default set.
// `modules: all` keeps every module (LinuxKit's behaviour); a list adds
// modules by name or glob, each with what it depends on.
type Modules struct {
	// All keeps every module of the kernel image.
	All bool
	// Names are module names or globs ("nvme", "mlx5_*"), as written.
	Names []string
	// NamePos holds where each of Names was written, for errors.
	NamePos []Position
	// Pos is where the field's value starts.
	Pos Position
}

// ModulesAll is the value of `modules:` that keeps every module.
const ModulesAll = "all"

// nodeDecoder is a type that decodes itself from a YAML node, for fields
// whose value may take more than one shape.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

// nodeEncoder is a type that encodes itself; nil means absent.
type nodeEncoder interface {
	encodeNode() *yaml.Node
}

var (
	nodeDecoderType = reflect.TypeOf((*nodeDecoder)(nil)).Elem()
	nodeEncoderType = reflect.TypeOf((*nodeEncoder)(nil)).Elem()
)

// decodeNode reads `all` or a list of module names or globs.
func (m *Modules) decodeNode(d *decoder, n *yaml.Node, path string) {
	m.Pos = d.pos(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		if n.Value != ModulesAll {
			d.errorf(n, "%sexpected %q or a list of module names, got %s", where(path), ModulesAll, describe(n))
			return
		}
		m.All = true
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%sexpected %q or a list of module names, got %s", where(path), ModulesAll, describe(n))
		return
	}
	m.Names = []string{}
	for i, item := range n.Content {
		item = resolve(item)
		if item == nil || item.Kind != yaml.ScalarNode || item.ShortTag() != "!!str" || strings.TrimSpace(item.Value) == "" {
			if item == nil {
				item = n.Content[i]
			}
			d.errorf(item, "%s[%d]: expected a module name or glob, got %s", path, i, describe(item))
			continue
		}
		if item.Value == ModulesAll {
			d.errorf(item, "%s[%d]: %q must stand alone (`modules: all`), not in a list", path, i, ModulesAll)
			continue
		}
		if strings.ContainsAny(item.Value, "/ \t") {
			d.errorf(item, "%s[%d]: %q is not a module name: use the name modinfo shows (\"nvme\", \"mlx5_core\"), or a glob of names (\"mlx5_*\")", path, i, item.Value)
			continue
		}
		m.Names = append(m.Names, item.Value)
		m.NamePos = append(m.NamePos, d.pos(item))
	}
}

func (m Modules) encodeNode() *yaml.Node {
	if m.All {
		return str(ModulesAll)
	}
	if m.Names == nil {
		return nil
	}
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	for _, name := range m.Names {
		n.Content = append(n.Content, str(name))
	}
	return n
}

// mergeModules combines the modules fields of several files: any `all`
// wins, lists add up (each file asks for what it needs).
func mergeModules(a, b *Modules) *Modules {
	switch {
	case b == nil:
		return a
	case a == nil:
		return b
	}
	out := &Modules{All: a.All || b.All, Pos: b.Pos}
	out.Names = append(append(out.Names, a.Names...), b.Names...)
	out.NamePos = append(append(out.NamePos, a.NamePos...), b.NamePos...)
	return out
}
