package spec

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode"
)

// malformed is one generated bad spec and the one error it must produce.
type malformed struct {
	name, yaml, want string
}

// servicesOnly are the image fields that only services accept: the
// generated type errors put them in services alone, so that the section
// check does not add a second error.
var servicesOnly = map[string]bool{"restart": true, "dependsOn": true, "healthcheck": true}

// typeErrors derives, from the Go type of each image field, a wrong value
// and the error the decoder must give for it (at file:line:column).
func typeErrors() []malformed {
	var out []malformed
	t := reflect.TypeOf(Image{})
	for i := 0; i < t.NumField(); i++ {
		key := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if key == "" || key == "-" || key == "name" || key == "image" {
			continue
		}
		ft := t.Field(i).Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		var cases [][2]string // value, expected message
		switch {
		case ft.Kind() == reflect.String:
			cases = [][2]string{{"[x]", "expected a string, got a list"}, {"{a: b}", "expected a string, got a mapping"}}
		case ft.Kind() == reflect.Bool:
			cases = [][2]string{{"maybe", `expected true or false, got a string ("maybe")`}, {"1", "expected true or false, got a number (1)"}}
		case ft.Kind() == reflect.Int:
			cases = [][2]string{{"lots", `expected an integer, got a string ("lots")`}, {"1.5", "expected an integer, got a number (1.5)"}}
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String:
			cases = [][2]string{{"x", `expected a list of strings, got a string ("x")`}, {"{a: b}", "expected a list of strings, got a mapping"}}
		case ft.Kind() == reflect.Slice:
			cases = [][2]string{{"x", `expected a list, got a string ("x")`}}
		case ft.Kind() == reflect.Map, ft.Kind() == reflect.Struct:
			cases = [][2]string{{"x", `expected a mapping, got a string ("x")`}, {"[x]", "expected a mapping, got a list"}}
		case ft.Kind() == reflect.Interface:
			cases = [][2]string{{"[x]", "expected a number or a name, got a list"}, {"{a: b}", "expected a number or a name, got a mapping"}}
		default:
			panic(fmt.Sprintf("corpus: no wrong values for field %s of kind %s", key, ft.Kind()))
		}
		for _, section := range []string{"onboot", "onshutdown", "services"} {
			if servicesOnly[key] && section != "services" {
				continue
			}
			for _, c := range cases {
				col := 5 + len(key) + 2
				out = append(out, malformed{
					name: fmt.Sprintf("%s %s: %s", section, key, c[0]),
					yaml: head + section + ":\n  - name: a\n    image: b\n    " + key + ": " + c[0] + "\n",
					want: fmt.Sprintf("f.yml:6:%d: %s[0].%s: %s", col, section, key, c[1]),
				})
			}
		}
	}
	return out
}

// typos swaps two adjacent letters of each longer field name: the error
// must name the field and suggest the right one.
func typos() []malformed {
	var out []malformed
	t := reflect.TypeOf(Image{})
	for i := 0; i < t.NumField(); i++ {
		key := strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]
		if len(key) < 6 || key == "image" || strings.Contains(key, ".") {
			continue
		}
		r := []rune(key)
		j := len(r) / 2
		if r[j] == r[j+1] || unicode.IsUpper(r[j+1]) {
			j--
		}
		r[j], r[j+1] = r[j+1], r[j]
		typo := string(r)
		for _, section := range []string{"onboot", "services"} {
			out = append(out, malformed{
				name: fmt.Sprintf("%s typo %s", section, typo),
				yaml: head + section + ":\n  - name: a\n    image: b\n    " + typo + ": x\n",
				want: fmt.Sprintf(`f.yml:6:5: unknown field %q in %s[0] (did you mean %q?)`, typo, section, key),
			})
		}
	}
	return out
}

// TestMalformedCorpus runs the generated corpus: every wrong type of every
// image field in every section, and a typo of every longer field name.
// Each must give exactly its error, never a panic or a spec.
func TestMalformedCorpus(t *testing.T) {
	corpus := append(typeErrors(), typos()...)
	if len(corpus) < 200 {
		t.Fatalf("the generated corpus has %d specs, want at least 200", len(corpus))
	}
	for _, tc := range corpus {
		s, err := Parse("f.yml", []byte(tc.yaml))
		if err == nil {
			t.Errorf("%s: got spec %+v and no error, want %s", tc.name, s, tc.want)
			continue
		}
		if got := err.Error(); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	t.Logf("%d generated malformed specs", len(corpus))
}
