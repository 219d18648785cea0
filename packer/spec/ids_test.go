package spec

import (
	"reflect"
	"testing"
)

func TestContainerIDs(t *testing.T) {
	s := &Spec{
		Onboot:     []*Image{{Name: "sysctl"}, {Name: "format"}},
		Onshutdown: []*Image{{Name: "bye"}},
		Services:   []*Image{{Name: "getty"}, {Name: "redis"}},
	}
	want := map[string]uint32{"sysctl": 100, "format": 101, "bye": 102, "getty": 103, "redis": 104}
	if got := s.ContainerIDs(); !reflect.DeepEqual(got, want) {
		t.Errorf("ContainerIDs() = %v, want %v", got, want)
	}
}

func TestResolveID(t *testing.T) {
	ids := map[string]uint32{"redis": 104}
	for _, tc := range []struct {
		in      any
		want    uint32
		ok, err bool
	}{
		{nil, 0, true, false},
		{0, 0, true, false},
		{1000, 1000, true, false},
		{"42", 42, true, false},
		{"root", 0, true, false},
		{"redis", 104, true, false},
		{"nobody", 0, false, false},
		{-1, 0, false, true},
		{1.5, 0, false, true},
	} {
		got, ok, err := ResolveID(tc.in, ids)
		if got != tc.want || ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("ResolveID(%v) = %d, %v, %v; want %d, %v, error %v", tc.in, got, ok, err, tc.want, tc.ok, tc.err)
		}
	}
}
