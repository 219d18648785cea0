package runner

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestGroupShim(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   map[string]string
		want map[string]string
	}{
		{"no annotations", nil, map[string]string{ShimGroupAnnotation: ShimGroup}},
		{"other annotations kept", map[string]string{"a": "b"},
			map[string]string{"a": "b", ShimGroupAnnotation: ShimGroup}},
		{"user's group kept", map[string]string{ShimGroupAnnotation: "mine"},
			map[string]string{ShimGroupAnnotation: "mine"}},
		{"user's empty group kept", map[string]string{ShimGroupAnnotation: ""},
			map[string]string{ShimGroupAnnotation: ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &specs.Spec{Annotations: tc.in}
			groupShim(s)
			if len(s.Annotations) != len(tc.want) {
				t.Errorf("annotations: got %v, want %v", s.Annotations, tc.want)
			}
			for k, v := range tc.want {
				if got, ok := s.Annotations[k]; !ok || got != v {
					t.Errorf("annotation %s: got %q (set %v), want %q", k, got, ok, v)
				}
			}
		})
	}
}
