package spec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/keel-os/keel/internal/bundle"
)

// PkgPrefix marks an image reference that names a package directory to
// build ("@pkg:./pkgs/getty") instead of an image to pull.
const PkgPrefix = "@pkg:"

// Parse decodes and checks one spec file. name is used in error messages and
// to resolve @pkg: paths, which are relative to the file's directory. All
// problems found are returned together as an ErrorList.
//
// On success, every relative "@pkg:PATH" reference has been rewritten to
// "@pkg:" + filepath.Join(dir(name), PATH), so references stay meaningful
// after files from different directories are merged; and a file source
// starting with "~/" has been expanded to the user's home directory.
func Parse(name string, data []byte) (s *Spec, err error) {
	defer func() {
		// The decoder is written not to panic; this keeps a bug in it, or
		// in the YAML library, from taking the CLI down with a stack trace.
		if r := recover(); r != nil {
			s = nil
			err = ErrorList{{Pos: Position{File: name}, Msg: fmt.Sprintf("internal error while reading the spec: %v", r)}}
		}
	}()
	root, err := parseYAML(name, data)
	if err != nil {
		return nil, err
	}
	s = &Spec{}
	d := newDecoder(name)
	if root != nil {
		if root.Kind != yaml.MappingNode {
			return nil, ErrorList{{Pos: d.pos(root), Msg: fmt.Sprintf("a spec must be a mapping (kernel:, init:, services: ...), got %s", describe(root))}}
		}
		d.decode(root, reflect.ValueOf(s).Elem(), "", 0)
	}
	if d.over {
		return nil, d.errs.err()
	}
	v := newValidator(name, d.errs)
	v.spec(s, root)
	v.cross(s)
	if err := v.errs.err(); err != nil {
		return nil, err
	}
	s.Warnings = append(s.Warnings, v.warns...)
	if s.Trust != nil {
		s.Warnings = append(s.Warnings, fmt.Sprintf("%s: the trust section is ignored (Keel pins images by digest instead)", d.pos(s.Trust)))
	}
	resolvePkgRefs(s, filepath.Dir(name))
	expandHome(s)
	return s, nil
}

// ParseLabel decodes an image's org.mobyproject.config label (JSON holding
// LinuxKit image fields, and Keel's additions). ref names the image in
// error messages. A label may not set name or image.
func ParseLabel(ref string, data []byte) (img *Image, err error) {
	file := ref + " (" + bundle.LabelKey + " label)"
	defer func() {
		if r := recover(); r != nil {
			img = nil
			err = ErrorList{{Pos: Position{File: file}, Msg: fmt.Sprintf("internal error while reading the label: %v", r)}}
		}
	}()
	root, err := parseYAML(file, data)
	if err != nil && json.Valid(data) {
		// YAML is a superset of JSON except for a few whitespace rules
		// (tabs); compacting the JSON removes them.
		var buf bytes.Buffer
		if json.Compact(&buf, data) == nil {
			root, err = parseYAML(file, buf.Bytes())
		}
	}
	if err != nil {
		return nil, err
	}
	img = &Image{}
	if root == nil {
		return img, nil
	}
	d := newDecoder(file)
	if root.Kind != yaml.MappingNode {
		return nil, ErrorList{{Pos: d.pos(root), Msg: fmt.Sprintf("the label must be a JSON object, got %s", describe(root))}}
	}
	d.decode(root, reflect.ValueOf(img).Elem(), "", 0)
	if d.over {
		return nil, d.errs.err()
	}
	v := newValidator(file, d.errs)
	v.image(img, root, "", "label")
	if err := v.errs.err(); err != nil {
		return nil, err
	}
	img.Pos = Position{}
	return img, nil
}

// Validate checks the rules that span a whole system, for a spec made by
// Merge: unique service and volume names, dependsOn targets and cycles,
// binds that name volumes. Parse already applies them to a single file.
func (s *Spec) Validate() error {
	v := &validator{}
	v.cross(s)
	return v.errs.err()
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseYAML reads exactly one YAML document and returns its top node, or
// nil for an empty document.
func parseYAML(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(name, err)
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		return nil, ErrorList{{Pos: Position{File: name, Line: extra.Line, Column: extra.Column},
			Msg: "a second YAML document starts here; a spec file holds one document (remove the '---' or split the file)"}}
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(name, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	root := resolve(doc.Content[0])
	if root == nil || isNull(root) {
		return nil, nil
	}
	return root, nil
}

func syntaxError(name string, err error) error {
	msg := err.Error()
	pos := Position{File: name}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		pos.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return ErrorList{{Pos: pos, Msg: "invalid YAML: " + msg + " (check the indentation on and above this line)"}}
}

func resolvePkgRefs(s *Spec, dir string) {
	_ = s.eachRef(func(ref *string) error {
		if p, ok := strings.CutPrefix(*ref, PkgPrefix); ok && p != "" && !filepath.IsAbs(p) {
			*ref = PkgPrefix + filepath.Join(dir, p)
		}
		return nil
	})
}

func expandHome(s *Spec) {
	for i := range s.Files {
		src := s.Files[i].Source
		if !strings.HasPrefix(src, "~/") {
			continue
		}
		if home, err := os.UserHomeDir(); err == nil {
			s.Files[i].Source = filepath.Join(home, src[2:])
		}
	}
}
