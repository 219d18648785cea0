package spec

import (
	"testing"
)

// TestLinuxKitResourceSpellings: LinuxKit's schema spells the block I/O
// resources "blockio", and its device entries carry major and minor (from
// an embedded struct of the OCI types). Both are read, and written back by
// the metadata encoder.
func TestLinuxKitResourceSpellings(t *testing.T) {
	src := head + `services:
  - name: a
    image: b
    resources:
      blockio:
        weight: 10
        weightDevice: [{major: 8, minor: 16, weight: 20}]
        throttleReadBpsDevice: [{major: 8, minor: 0, rate: 1048576}]
`
	s, err := Parse("f.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	check := func(s *Spec, what string) {
		t.Helper()
		b := s.Services[0].Resources.BlockIO
		if b == nil || b.Weight == nil || *b.Weight != 10 {
			t.Fatalf("%s: got blockIO %+v, want weight 10", what, b)
		}
		if len(b.WeightDevice) != 1 || b.WeightDevice[0].Major != 8 || b.WeightDevice[0].Minor != 16 || *b.WeightDevice[0].Weight != 20 {
			t.Errorf("%s: got weightDevice %+v, want 8:16 weight 20", what, b.WeightDevice)
		}
		if len(b.ThrottleReadBpsDevice) != 1 || b.ThrottleReadBpsDevice[0].Major != 8 || b.ThrottleReadBpsDevice[0].Rate != 1048576 {
			t.Errorf("%s: got throttleReadBpsDevice %+v, want 8:0 rate 1048576", what, b.ThrottleReadBpsDevice)
		}
	}
	check(s, "parsed")
	y, err := s.YAML()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("back.yml", y)
	if err != nil {
		t.Fatalf("the metadata YAML does not parse: %v\n%s", err, y)
	}
	check(back, "written back")
}
