package main

import (
	"slices"
	"testing"

	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
)

func TestDispatch(t *testing.T) {
	tests := []struct {
		args     []string
		wantArgs []string // nil: no program
	}{
		{[]string{"/usr/bin/svcd", "--log-dir=/var/log"}, []string{"/usr/bin/svcd", "--log-dir=/var/log"}},
		{[]string{"svcctl", "list"}, []string{"svcctl", "list"}},
		{[]string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "x"}, []string{"/usr/bin/containerd-shim-runc-v2", "-namespace", "x"}},
		{[]string{"./build/multicall", "containerd", "--version"}, []string{"containerd", "--version"}},
		{[]string{"multicall"}, nil},
		{[]string{"multicall", "sh"}, nil},
		{[]string{"svcd.old"}, nil},
		{nil, nil},
	}
	for _, tc := range tests {
		got, run, ok := dispatch(tc.args)
		if ok != (tc.wantArgs != nil) || !slices.Equal(got, tc.wantArgs) || ok && run == nil {
			t.Errorf("dispatch(%q): got %q, %v, want %q", tc.args, got, ok, tc.wantArgs)
		}
	}
}

// TestPluginSplit checks that each program keeps only its own plugins of
// the one registry: containerd without the shim's task service, the shim
// with nothing of containerd's (it fails on any plugin it cannot load).
func TestPluginSplit(t *testing.T) {
	all := registry.Graph(func(*plugin.Registration) bool { return false })
	t.Cleanup(func() {
		registry.Reset()
		for i := range all {
			registry.Register(&all[i])
		}
	})
	uris := func() []string {
		var out []string
		for _, r := range registry.Graph(func(*plugin.Registration) bool { return false }) {
			out = append(out, r.URI())
		}
		return out
	}
	const shimTask = "io.containerd.ttrpc.v1.task"
	if !slices.Contains(uris(), shimTask) {
		t.Fatalf("the registry lacks the shim's %s before the split", shimTask)
	}

	keepPlugins(func(r *plugin.Registration) bool { return !isShimPlugin(r) })
	daemon := uris()
	if slices.Contains(daemon, shimTask) {
		t.Errorf("containerd's plugins hold the shim's %s", shimTask)
	}
	for _, want := range []string{"io.containerd.service.v1.tasks-service", "io.containerd.grpc.v1.tasks",
		"io.containerd.runtime.v2.task", "io.containerd.server.v1.grpc", "io.containerd.snapshotter.v1.overlayfs"} {
		if !slices.Contains(daemon, want) {
			t.Errorf("containerd's plugins lack %s: got %q", want, daemon)
		}
	}
	if len(daemon) != len(all)-1 {
		t.Errorf("containerd has %d plugins, want %d (all but the shim's)", len(daemon), len(all)-1)
	}

	registry.Reset()
	for i := range all {
		registry.Register(&all[i])
	}
	keepPlugins(isShimPlugin)
	if got := uris(); !slices.Equal(got, []string{shimTask}) {
		t.Errorf("the shim's plugins: got %q, want only %s", got, shimTask)
	}
}
