package spec

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// clearPos zeroes every Position and the warnings, which a round trip
// through YAML cannot keep.
func clearPos(v reflect.Value) {
	switch v.Kind() {
	case reflect.Ptr, reflect.Interface:
		if !v.IsNil() {
			clearPos(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == positionType {
			v.Set(reflect.Zero(positionType))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				clearPos(v.Field(i))
			}
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			clearPos(v.Index(i))
		}
	}
}

func roundTrip(t *testing.T, file string, data []byte) {
	t.Helper()
	s, err := Parse(file, data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.YAML()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse(file, out)
	if err != nil {
		t.Fatalf("the encoded spec does not parse: %v\n%s", err, out)
	}
	s.Trust, s.Warnings, back.Warnings = nil, nil, nil
	clearPos(reflect.ValueOf(s))
	clearPos(reflect.ValueOf(back))
	if !reflect.DeepEqual(s, back) {
		t.Errorf("round trip changed the spec; encoded:\n%s", out)
	}
	js, err := s.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(js) {
		t.Errorf("JSON() is not valid JSON:\n%s", js)
	}
}

func TestYAMLRoundTripLinuxKitExamples(t *testing.T) {
	for _, f := range compatFiles(t) {
		if filepath.Base(f) == "static-ip.yml" {
			continue // broken as published
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, f, data)
		})
	}
}

func TestYAMLKeepsExplicitEmpty(t *testing.T) {
	src := `kernel:
  image: k:1
  tar: ""
services:
  - name: s
    image: "@pkg:/abs/pkg"
    capabilities: []
    binds: []
    readonly: false
    oomScoreAdj: 0
    sysctl: {}
    uid: 100
    gid: wheel
files:
  - path: etc/x
    contents: ""
    mode: "0644"
`
	roundTrip(t, "/tmp/x.yml", []byte(src))
	s, _ := Parse("/tmp/x.yml", []byte(src))
	out, _ := s.YAML()
	for _, want := range []string{"capabilities: []", "readonly: false", `contents: ""`, `mode: "0644"`, `tar: ""`, "sysctl: {}", `'@pkg:/abs/pkg'`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("encoded spec lacks %q:\n%s", want, out)
		}
	}
}
