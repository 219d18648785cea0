package spec

import (
	"reflect"
	"strings"
	"testing"
)

// TestImageRulesNameFields: every rule's key is a field of Image, spelled
// as in YAML, and has one rule. A misspelt key would point every problem
// at the entry instead of the field and put the wrong path in messages.
func TestImageRulesNameFields(t *testing.T) {
	fields := map[string]bool{}
	typ := reflect.TypeOf(Image{})
	for i := 0; i < typ.NumField(); i++ {
		fields[strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0]] = true
	}
	seen := map[string]bool{}
	for _, r := range imageRules {
		if !fields[r.key] {
			t.Errorf("rule %q: got no such Image field, want a YAML key of Image", r.key)
		}
		if seen[r.key] {
			t.Errorf("rule %q: got two rules, want one", r.key)
		}
		seen[r.key] = true
	}
}
