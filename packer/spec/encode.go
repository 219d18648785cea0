package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	"gopkg.in/yaml.v3"
)

// YAML renders the spec in LinuxKit's format, fields in schema order.
// Absent values are left out, but an explicitly empty list or map (which
// clears an image label's value) is kept. Parse reads the result back to an
// equal spec; `keel build --dry-run` and `files: metadata: yaml` use it.
// The trust section, which Keel ignores, is not written.
func (s *Spec) YAML() ([]byte, error) {
	n := encode(reflect.ValueOf(*s))
	if n == nil {
		n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("encoding the spec as YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encoding the spec as YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// JSON renders the same content as YAML, as one JSON object (keys sorted).
func (s *Spec) JSON() ([]byte, error) {
	n := encode(reflect.ValueOf(*s))
	var v any = map[string]any{}
	if n != nil {
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("encoding the spec as JSON: %w", err)
		}
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the spec as JSON: %w", err)
	}
	return append(out, '\n'), nil
}

var yamlNodePtrType = reflect.TypeOf(&yaml.Node{})

// encode returns v as a YAML node, or nil when v is absent (zero).
func encode(v reflect.Value) *yaml.Node {
	if v.Kind() != reflect.Ptr && v.Type().Implements(nodeEncoderType) {
		return v.Interface().(nodeEncoder).encodeNode()
	}
	switch v.Kind() {
	case reflect.Ptr:
		if v.IsNil() || v.Type() == yamlNodePtrType {
			return nil
		}
		n := encode(v.Elem())
		if n == nil {
			// A pointer to an empty value is an explicit "empty".
			n = emptyOf(v.Elem())
		}
		return n
	case reflect.Interface:
		if v.IsNil() {
			return nil
		}
		n := encode(v.Elem())
		if n == nil {
			n = emptyOf(v.Elem())
		}
		return n
	case reflect.Struct:
		return encodeStruct(v)
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := 0; i < v.Len(); i++ {
			c := encode(v.Index(i))
			if c == nil {
				c = emptyOf(v.Index(i))
			}
			n.Content = append(n.Content, c)
		}
		if v.Len() == 0 {
			n.Style = yaml.FlowStyle
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := v.MapKeys()
		sortValues(keys)
		for _, k := range keys {
			c := encode(v.MapIndex(k))
			if c == nil {
				c = emptyOf(v.MapIndex(k))
			}
			n.Content = append(n.Content, str(fmt.Sprint(k.Interface())), c)
		}
		if v.Len() == 0 {
			n.Style = yaml.FlowStyle
		}
		return n
	case reflect.String:
		if v.String() == "" {
			return nil
		}
		return str(v.String())
	case reflect.Bool:
		if !v.Bool() {
			return nil
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Int() == 0 {
			return nil
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.Uint() == 0 {
			return nil
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatUint(v.Uint(), 10)}
	case reflect.Float32, reflect.Float64:
		if v.Float() == 0 {
			return nil
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(v.Float(), 'g', -1, 64)}
	}
	return nil
}

func encodeStruct(v reflect.Value) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if inlined(sf) {
			if c := encodeStruct(v.Field(i)); c != nil {
				n.Content = append(n.Content, c.Content...)
			}
			continue
		}
		if !sf.IsExported() || sf.Type == positionType {
			continue
		}
		name := tagName(sf.Tag.Get("yaml"))
		if name == "" {
			name = tagName(sf.Tag.Get("json"))
		}
		if name == "" || name == "-" {
			continue
		}
		c := encode(v.Field(i))
		if c == nil {
			continue
		}
		n.Content = append(n.Content, str(name), c)
	}
	if len(n.Content) == 0 {
		return nil
	}
	return n
}

// emptyOf is the explicit empty value of v's kind: [] , {}, "", 0 or false.
func emptyOf(v reflect.Value) *yaml.Node {
	for v.Kind() == reflect.Ptr || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Slice:
		return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	case reflect.Map, reflect.Struct:
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
	case reflect.String:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "", Style: yaml.DoubleQuotedStyle}
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "false"}
	case reflect.Float32, reflect.Float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: "0"}
	default:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "0"}
	}
}

// str is a string scalar; yaml.v3 quotes it when it would read as
// something else ("true", "0644", "@pkg:...").
func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func sortValues(keys []reflect.Value) {
	less := func(a, b reflect.Value) bool { return fmt.Sprint(a.Interface()) < fmt.Sprint(b.Interface()) }
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && less(keys[j], keys[j-1]); j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
}
