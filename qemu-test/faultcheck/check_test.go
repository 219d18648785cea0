package main

import "testing"

func TestOOMLine(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string // constraint, task_memcg, task, pid; nil: no match
	}{
		{"oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=hog,mems_allowed=0,oom_memcg=/hog,task_memcg=/hog,task=faultcheck,pid=419,uid=0",
			[]string{"CONSTRAINT_MEMCG", "/hog", "faultcheck", "419"}},
		{"oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/services.linuxkit/web,task=containerd,pid=213,uid=0",
			[]string{"CONSTRAINT_NONE", "/services.linuxkit/web", "containerd", "213"}},
		{"Memory cgroup out of memory: Killed process 459 (faultcheck) total-vm:1330820kB", nil},
	} {
		m := oomLine.FindStringSubmatch(tc.in)
		if tc.want == nil {
			if m != nil {
				t.Errorf("%q: got %q, want no match", tc.in, m)
			}
			continue
		}
		if m == nil {
			t.Errorf("%q: no match, want %q", tc.in, tc.want)
			continue
		}
		for i, w := range tc.want {
			if m[i+1] != w {
				t.Errorf("%q: field %d got %q, want %q", tc.in, i+1, m[i+1], w)
			}
		}
	}
}
