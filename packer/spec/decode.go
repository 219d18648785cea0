package spec

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"gopkg.in/yaml.v3"
)

// The decoder turns a yaml.Node tree into Go values strictly: unknown keys,
// duplicate keys and wrong types are errors carrying the node's position.
// It is written against yaml.Node rather than yaml.Unmarshal because
// yaml.Unmarshal stops at the first problem and loses positions.
//
// Field names come from the `yaml` tag, else from the `json` tag (the OCI
// runtime-spec types only have json tags, and LinuxKit's schema spells their
// fields the JSON way, e.g. "hugepageLimits").

const (
	// maxDepth bounds nesting, including through aliases, so a
	// self-referencing alias cannot recurse forever.
	maxDepth = 64
	// maxNodes bounds the work done on one document: every node and key
	// visited costs one, through aliases too, so alias "bombs" that name
	// millions of nodes fail fast (the issue 17 label in ~50 ms). The
	// largest example spec visits a few thousand.
	maxNodes = 1 << 18
)

var (
	positionType = reflect.TypeOf(Position{})
	yamlNodeType = reflect.TypeOf(&yaml.Node{})
)

type decoder struct {
	file   string
	errs   ErrorList
	budget int
	over   bool
}

func newDecoder(file string) *decoder {
	return &decoder{file: file, budget: maxNodes}
}

func (d *decoder) pos(n *yaml.Node) Position {
	if n == nil {
		return Position{File: d.file}
	}
	return Position{File: d.file, Line: n.Line, Column: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...interface{}) {
	d.errs.add(&Error{Pos: d.pos(n), Msg: fmt.Sprintf(format, args...)})
}

// charge takes one unit of work from the budget for a node visited, keys
// included, however it was reached: aliases let a few kilobytes name
// millions of nodes, and each must cost. It reports false once the budget
// is spent (and the decode is over).
func (d *decoder) charge(n *yaml.Node, path string) bool {
	if d.over {
		return false
	}
	d.budget--
	if d.budget < 0 {
		d.over = true
		d.errs.addAlways(&Error{Pos: d.pos(n), Msg: where(path) + "document is too large (too many nodes, or aliases that repeat them)"})
		return false
	}
	return true
}

// resolve follows aliases. A nil result means a broken alias.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > maxDepth {
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe says what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "nothing (null)"
		case "!!bool":
			return "a boolean (" + n.Value + ")"
		case "!!int", "!!float":
			return "a number (" + n.Value + ")"
		default:
			v := n.Value
			if len(v) > 40 {
				v = v[:37] + "..."
			}
			return fmt.Sprintf("a string (%q)", v)
		}
	}
	return "something else"
}

// expected describes what a Go type wants, for error messages.
func expected(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Ptr:
		return expected(t.Elem())
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "a list of strings"
		}
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	case reflect.Interface:
		return "a number or a name"
	}
	return t.String()
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// where prefixes a message with the path it is about.
func where(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

// decode fills v (addressable) from n, recording problems under path.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, depth int) {
	if !d.charge(n, path) {
		return
	}
	if depth > maxDepth {
		d.over = true
		d.errs.addAlways(&Error{Pos: d.pos(n), Msg: fmt.Sprintf("%snested too deeply (more than %d levels, or a self-referencing alias)", where(path), maxDepth)})
		return
	}
	orig := n
	n = resolve(n)
	if n == nil {
		d.errorf(orig, "%salias does not resolve", where(path))
		return
	}
	if v.Type() == yamlNodeType {
		v.Set(reflect.ValueOf(n))
		return
	}
	if isNull(n) {
		// Null is "absent": the zero value, a nil pointer or slice.
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecoderType) {
		v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
		return
	}
	switch v.Kind() {
	case reflect.Ptr:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path, depth+1)
	case reflect.Interface:
		d.decodeID(n, v, path)
	case reflect.Struct:
		d.decodeStruct(n, v, path, depth)
	case reflect.Slice:
		d.decodeSlice(n, v, path, depth)
	case reflect.Map:
		d.decodeMap(n, v, path, depth)
	default:
		d.decodeScalar(n, v, path)
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%sexpected %s, got %s", where(path), expected(v.Type()), describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	if fields.pos >= 0 {
		v.Field(fields.pos).Set(reflect.ValueOf(d.pos(n)))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !d.charge(n.Content[i], path) {
			return
		}
		k, val := resolve(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			d.errorf(n.Content[i], "%skeys must be plain names", where(path))
			continue
		}
		name := k.Value
		if seen[name] {
			d.errorf(k, "%sfield %q is given twice", where(path), name)
			continue
		}
		seen[name] = true
		idx, ok := fields.byName[name]
		if !ok {
			if d.errs.full() {
				// Only counted: spare the suggestion's cost.
				d.errs.add(&Error{Pos: d.pos(k)})
				continue
			}
			in := ""
			if path != "" {
				in = " in " + path
			}
			d.errorf(k, "unknown field %q%s%s", name, in, didYouMean(name, fields.names))
			continue
		}
		d.decode(val, v.FieldByIndex(idx), join(path, name), depth+1)
	}
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%sexpected %s, got %s", where(path), expected(v.Type()), describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		p := fmt.Sprintf("%s[%d]", path, i)
		if r := resolve(item); r != nil && isNull(r) {
			d.errorf(item, "%sexpected %s, got nothing (null)", where(p), expected(v.Type().Elem()))
			continue
		}
		d.decode(item, s.Index(i), p, depth+1)
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string, depth int) {
	if n.Kind != yaml.MappingNode || v.Type().Key().Kind() != reflect.String {
		d.errorf(n, "%sexpected %s, got %s", where(path), expected(v.Type()), describe(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		if !d.charge(n.Content[i], path) {
			return
		}
		k := resolve(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			d.errorf(n.Content[i], "%skeys must be plain strings", where(path))
			continue
		}
		key := reflect.New(v.Type().Key()).Elem()
		key.SetString(k.Value)
		if m.MapIndex(key).IsValid() {
			d.errorf(k, "%skey %q is given twice", where(path), k.Value)
			continue
		}
		val := reflect.New(v.Type().Elem()).Elem()
		d.decode(n.Content[i+1], val, join(path, k.Value), depth+1)
		m.SetMapIndex(key, val)
	}
	v.Set(m)
}

// decodeID reads the uid/gid style "number or name" values into an interface.
func (d *decoder) decodeID(n *yaml.Node, v reflect.Value, path string) {
	if v.NumMethod() != 0 || n.Kind != yaml.ScalarNode {
		d.errorf(n, "%sexpected a number or a name, got %s", where(path), describe(n))
		return
	}
	switch n.ShortTag() {
	case "!!int":
		var i int64
		if err := n.Decode(&i); err != nil || i < 0 || i > 1<<32-1 {
			d.errorf(n, "%sid %s is out of range (0 to 4294967295)", where(path), n.Value)
			return
		}
		v.Set(reflect.ValueOf(int(i)))
	case "!!str":
		v.Set(reflect.ValueOf(n.Value))
	default:
		d.errorf(n, "%sexpected a number or a name, got %s", where(path), describe(n))
	}
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, path string) {
	bad := func() {
		d.errorf(n, "%sexpected %s, got %s", where(path), expected(v.Type()), describe(n))
	}
	if n.Kind != yaml.ScalarNode {
		bad()
		return
	}
	tag := n.ShortTag()
	switch v.Kind() {
	case reflect.String:
		// Numbers and booleans are accepted as their literal text: a
		// sysctl value of 1 or a hostname of 1234 mean what they say.
		switch tag {
		case "!!str", "!!int", "!!float", "!!bool", "!!timestamp":
			v.SetString(n.Value)
		default:
			bad()
		}
	case reflect.Bool:
		var b bool
		if tag != "!!bool" || n.Decode(&b) != nil {
			bad()
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		var i int64
		if tag != "!!int" || n.Decode(&i) != nil {
			bad()
			return
		}
		if v.OverflowInt(i) {
			d.errorf(n, "%s%s is out of range", where(path), n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		var u uint64
		if tag != "!!int" || n.Decode(&u) != nil {
			if tag == "!!int" && strings.HasPrefix(n.Value, "-") {
				d.errorf(n, "%s%s must not be negative", where(path), n.Value)
				return
			}
			bad()
			return
		}
		if v.OverflowUint(u) {
			d.errorf(n, "%s%s is out of range", where(path), n.Value)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		if tag != "!!float" && tag != "!!int" {
			bad()
			return
		}
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			var g float64
			if n.Decode(&g) != nil {
				bad()
				return
			}
			f = g
		}
		v.SetFloat(f)
	default:
		d.errorf(n, "%scannot decode into %s", where(path), v.Type())
	}
}

// structFields is the decoding view of a struct type.
type structFields struct {
	byName map[string][]int
	names  []string // sorted, for suggestions
	pos    int      // index of the Position field, or -1
}

var fieldCache sync.Map // reflect.Type -> *structFields

// fieldAliases are other names LinuxKit accepts for a field. Its schema
// spells the OCI resources' block I/O section "blockio" (yaml.v3 lower-cases
// a field name without a yaml tag), where the OCI JSON name is "blockIO".
var fieldAliases = map[reflect.Type]map[string]string{
	reflect.TypeOf(specs.LinuxResources{}): {"blockio": "blockIO"},
}

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	f := &structFields{byName: map[string][]int{}, pos: -1}
	f.add(t, nil)
	for alias, name := range fieldAliases[t] {
		if i, ok := f.byName[name]; ok {
			f.byName[alias] = i
		}
	}
	sort.Strings(f.names)
	fieldCache.Store(t, f)
	return f
}

// add records the fields of t, reached through index path at. The fields
// of an embedded struct without a tag are its own, as in encoding/json (the
// OCI types embed one for a device's major and minor numbers).
func (f *structFields) add(t reflect.Type, at []int) {
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		idx := append(append([]int(nil), at...), i)
		if inlined(sf) {
			f.add(sf.Type, idx)
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if sf.Type == positionType {
			if len(at) == 0 {
				f.pos = i
			}
			continue
		}
		name := tagName(sf.Tag.Get("yaml"))
		if name == "" {
			name = tagName(sf.Tag.Get("json"))
		}
		if name == "" || name == "-" {
			continue
		}
		if _, dup := f.byName[name]; dup {
			continue // the outer field wins, as in encoding/json
		}
		f.byName[name] = idx
		f.names = append(f.names, name)
	}
}

// inlined reports whether sf is an embedded struct without a name of its
// own, whose fields are read and written as the outer struct's.
func inlined(sf reflect.StructField) bool {
	return sf.Anonymous && sf.Type.Kind() == reflect.Struct && sf.Tag.Get("yaml") == "" && sf.Tag.Get("json") == ""
}

func tagName(tag string) string {
	name, _, _ := strings.Cut(tag, ",")
	return name
}
